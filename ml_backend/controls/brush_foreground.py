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
from ml_backend.controls.label_config import LabelConfigError, label_aliases, label_option
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
        return any(label_option(control, label, "prompts") for label in control.labels)

    @property
    def roles(self) -> dict[str, str]:
        return label_roles(self.control)

    @property
    def model_name(self) -> str:
        return self.option("model_name", "clipseg_model")

    @property
    def threshold(self) -> float:
        return self.float_option("model_uncertainty_threshold", "uncertainty_threshold")

    @property
    def ensemble(self) -> Ensemble:
        """The prompt ensemble from the label config, the environment and the presets."""
        roles = self.roles
        preset_name = self.option("model_ensemble")
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
            raw = self.label_option(label, "prompts") if label else None
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
        self.choice_option("model_combine", COMBINE_RULES)
        self.choice_option("model_uncertainty", UNCERTAINTY_KINDS)
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
            combine=self.choice_option("model_combine", COMBINE_RULES),
            uncertainty=self.choice_option("model_uncertainty", UNCERTAINTY_KINDS),
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
