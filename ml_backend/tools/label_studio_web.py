"""The accounts side of the local Label Studio launcher, over HTTP as a user of the web app:
log in and sign up through the forms, and personal access tokens (revoked and re-created when
unknown). ``url`` is the server's base URL."""

from __future__ import annotations

import os
from pathlib import Path

import requests


class LabelStudioError(RuntimeError):
    """Label Studio could not be started or driven."""


def _post_form(
    session: requests.Session, form_url: str, data: dict[str, str], csrf_required: bool
) -> tuple[requests.Response, str]:
    """GET a Django form (for its CSRF cookie), then POST ``data`` to it; (answer, token)."""
    session.get(form_url, timeout=30).raise_for_status()
    csrf = session.cookies.get("csrftoken", "")
    if csrf_required and not csrf:
        raise LabelStudioError("the login page set no csrftoken cookie")
    answer = session.post(
        form_url,
        data={**data, "csrfmiddlewaretoken": csrf},
        headers={"Referer": form_url, "X-CSRFToken": csrf},
        allow_redirects=False,
        timeout=30,
    )
    return answer, csrf


def login(url: str, username: str, password: str) -> requests.Session:
    """A ``requests.Session`` logged in through the login form (session cookie + CSRF)."""
    s = requests.Session()
    form = {"email": username, "password": password}
    r, csrf = _post_form(s, f"{url}/user/login/", form, csrf_required=True)
    if r.status_code != 302 or "sessionid" not in s.cookies:
        raise LabelStudioError(
            f"login as {username} failed (HTTP {r.status_code}); wrong password?"
        )
    s.headers.update({"X-CSRFToken": s.cookies.get("csrftoken", csrf), "Referer": url + "/"})
    return s


def sign_up(url: str, email: str, password: str) -> None:
    """Sign a new user up through the signup form; it joins the (single) organization."""
    form = {"email": email, "password": password}
    r, _ = _post_form(requests.Session(), f"{url}/user/signup/", form, csrf_required=False)
    if r.status_code != 302:
        raise LabelStudioError(
            f"signing up {email} failed (HTTP {r.status_code}): weak password or user exists?"
        )


def refresh(url: str, pat: str) -> requests.Response:
    """Exchange a personal access token for a short-lived access token."""
    return requests.post(f"{url}/api/token/refresh/", json={"refresh": pat}, timeout=30)


def pat_valid(url: str, pat: str) -> bool:
    try:
        r = refresh(url, pat)
    except requests.RequestException:
        return False
    return r.status_code == 200 and "access" in r.json()


def new_personal_access_token(session: requests.Session, url: str, cache: Path) -> str:
    """Create the logged-in user's PAT (revoking one this launcher does not know) and write it
    to ``cache`` (mode 0600)."""
    r = session.post(f"{url}/api/token/", json={}, timeout=30)
    if r.status_code == 409:  # "You already have a valid token": revoke it and retry
        listed = session.get(f"{url}/api/token/", timeout=30)
        listed.raise_for_status()
        for item in listed.json():
            session.post(f"{url}/api/token/blacklist/", json={"refresh": item["token"]}, timeout=30)
        r = session.post(f"{url}/api/token/", json={}, timeout=30)
    if r.status_code not in (200, 201):
        raise LabelStudioError(f"POST /api/token/ failed: HTTP {r.status_code} {r.text[:500]}")
    pat = r.json()["token"]
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(cache, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(pat + "\n")
    return pat
