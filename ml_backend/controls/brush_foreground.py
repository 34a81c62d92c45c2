"""``<BrushLabels>`` of Foreground/Background (+ Uncertain): CLIPSeg prompt ensembles.

Served when the tag's labels include ``Foreground`` or ``Background`` (case-insensitive, or as
``predicted_values``) or when a ``<Label>`` carries a ``prompts`` attribute.

Label roles: a label is the foreground, background or uncertain label when its value (or one of
its ``predicted_values``) is ``foreground``/``background``/``uncertain``, ignoring case.

Prompts (first that applies, per role): the label's ``prompts="concrete;bridge;pillar"``
attribute (``;``-separated); the tag's ``model_ensemble`` preset (E1/E2/E3);
FOREGROUND_PROMPTS / BACKGROUND_PROMPTS; the CLIPSEG_ENSEMBLE preset.

Tag options (env fallback): ``model_name`` [CLIPSEG_MODEL], ``model_ensemble``
[CLIPSEG_ENSEMBLE], ``model_uncertainty_threshold`` [UNCERTAINTY_THRESHOLD],
``model_combine`` (softmax|mean), ``model_uncertainty`` (entropy|disagreement), ``model_skip``.

Regions per image: the Foreground and Background masks (they partition the image; an empty one
is left out), and, when the config has an Uncertain label, the pixels whose uncertainty is at or
above the threshold. Every region's ``score`` is ``1 - mean uncertainty`` over its pixels (its
mean certainty): 1 for a region the ensemble is sure about, lower the more it hesitates.
"""

from __future__ import annotations

import logging

import numpy as np

from ml_backend.controls.base import ControlHandler, Region
from ml_backend.controls.brush import brush_region
from ml_backend.controls.label_config import LabelConfigError, label_aliases, tag_float, tag_option
from model_zoo.classifier.model import canonical_class_name
from model_zoo.clipseg.ensembles import (
    COMBINE_RULES,
    UNCERTAINTY_KINDS,
    Ensemble,
    get_ensemble,
    segment_foreground,
    split_prompts,
)
from model_zoo.clipseg.model import ClipSeg, PromptError

log = logging.getLogger(__name__)

ROLES = ("foreground", "background", "uncertain")


def _label_attr(control, label: str, name: str) -> str | None:
    tag = control.labels_attrs.get(label) if getattr(control, "labels_attrs", None) else None
    value = tag.attr.get(name) if tag is not None else None
    return str(value) if value is not None and str(value).strip() else None


def label_roles(control) -> dict[str, str]:
    """role -> label value, from the values and their ``predicted_values``."""
    roles: dict[str, str] = {}
    for label in control.labels:
        for alias in label_aliases(control, label):
            role = canonical_class_name(alias)
            if role in ROLES:
                roles.setdefault(role, label)
    return roles


class ForegroundBrushHandler(ControlHandler):
    result_type = "brushlabels"

    @classmethod
    def matches(cls, control) -> bool:
        roles = label_roles(control)
        if "foreground" in roles or "background" in roles:
            return True
        return any(_label_attr(control, label, "prompts") for label in control.labels)

    @property
    def roles(self) -> dict[str, str]:
        return label_roles(self.control)

    @property
    def model_name(self) -> str:
        return tag_option(self.control, "model_name", self.settings.clipseg_model)

    @property
    def threshold(self) -> float:
        return tag_float(
            self.control, "model_uncertainty_threshold", self.settings.uncertainty_threshold
        )

    def _choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = str(tag_option(self.control, name, allowed[0])).lower()
        if value not in allowed:
            raise LabelConfigError(
                f'<BrushLabels name="{self.control.name}"> has {name}="{value}": use one of '
                f"{', '.join(allowed)}"
            )
        return value

    @property
    def ensemble(self) -> Ensemble:
        """The prompt ensemble from the label config, the environment and the presets."""
        roles = self.roles
        preset_name = tag_option(self.control, "model_ensemble")
        try:
            preset = get_ensemble(preset_name or self.settings.clipseg_ensemble)
        except KeyError as exc:
            where = (
                f'<BrushLabels name="{self.control.name}"> model_ensemble'
                if preset_name
                else "CLIPSEG_ENSEMBLE"
            )
            raise LabelConfigError(f"{where}: {exc.args[0]}") from None
        env = {
            "foreground": split_prompts(self.settings.foreground_prompts),
            "background": split_prompts(self.settings.background_prompts),
        }
        chosen = {}
        for role in ("foreground", "background"):
            label = roles.get(role)
            raw = _label_attr(self.control, label, "prompts") if label else None
            if raw is not None:
                chosen[role] = split_prompts(raw)
                if not chosen[role]:
                    raise LabelConfigError(
                        f'<Label value="{label}"> has prompts="{raw}" with no prompt in it: give '
                        'prompts separated by ";", e.g. prompts="concrete;bridge"'
                    )
            elif preset_name:
                chosen[role] = list(getattr(preset, role))
            else:
                chosen[role] = env[role] or list(getattr(preset, role))
        try:
            return Ensemble.of(chosen["foreground"], chosen["background"])
        except PromptError as exc:
            raise LabelConfigError(f'<BrushLabels name="{self.control.name}">: {exc}') from None

    @property
    def clipseg(self) -> ClipSeg:
        return self.models.clipseg(self.model_name)

    @property
    def model_version(self) -> str:
        return f"{self.clipseg.version}:{self.ensemble.label}"

    def check(self) -> None:
        roles = self.roles
        if "foreground" not in roles and "background" not in roles:
            raise LabelConfigError(
                f'<BrushLabels name="{self.control.name}"> has prompts but no Foreground or '
                f"Background label (labels: {list(self.control.labels)}). Name them Foreground "
                'and Background, or add predicted_values="foreground" / "background".'
            )
        self.threshold  # noqa: B018 - validates the attribute
        self._choice("model_combine", COMBINE_RULES)
        self._choice("model_uncertainty", UNCERTAINTY_KINDS)
        ensemble = self.ensemble
        log.info(
            "BrushLabels %r: CLIPSeg %s, ensemble %s fg=%s bg=%s",
            self.control.name,
            self.model_name,
            ensemble.label,
            list(ensemble.foreground),
            list(ensemble.background),
        )
        self.clipseg  # noqa: B018 - loads the model, so /setup reports a missing one

    def predict(self, images, shared=None) -> list[list[Region]]:
        roles = self.roles
        threshold = self.threshold
        results = segment_foreground(
            self.clipseg,
            images,
            self.ensemble,
            combine=self._choice("model_combine", COMBINE_RULES),
            uncertainty=self._choice("model_uncertainty", UNCERTAINTY_KINDS),
            batch_size=self.settings.predict_batch_size,
        )
        out = []
        for result in results:
            masks = {
                "foreground": result.foreground,
                "background": result.background,
            }
            if "uncertain" in roles:
                masks["uncertain"] = result.uncertainty >= threshold
            regions = []
            for role, mask in masks.items():
                label = roles.get(role)
                if label is None or not mask.any():
                    continue
                score = 1.0 - float(np.mean(result.uncertainty[mask]))
                regions.append(brush_region(self, mask, label, score))
            out.append(regions)
        return out
