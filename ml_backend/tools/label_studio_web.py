"""What the local Label Studio launcher does over HTTP as a user of the web app: log in and
sign up through the forms, personal access tokens (cached, revoked and re-created when
unknown), and Local Storage. ``url`` is the server's base URL."""

from __future__ import annotations

import os
from pathlib import Path

import requests


class LabelStudioError(RuntimeError):
    """Label Studio could not be started or driven."""


def login(url: str, username: str, password: str) -> requests.Session:
    """A ``requests.Session`` logged in through the login form (session cookie + CSRF)."""
    s = requests.Session()
    login_url = f"{url}/user/login/"
    r = s.get(login_url, timeout=30)
    r.raise_for_status()
    csrf = s.cookies.get("csrftoken")
    if not csrf:
        raise LabelStudioError("the login page set no csrftoken cookie")
    r = s.post(
        login_url,
        data={"email": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": login_url, "X-CSRFToken": csrf},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 302 or "sessionid" not in s.cookies:
        raise LabelStudioError(
            f"login as {username} failed (HTTP {r.status_code}); wrong password?"
        )
    s.headers.update({"X-CSRFToken": s.cookies.get("csrftoken", csrf), "Referer": url + "/"})
    return s


def sign_up(url: str, email: str, password: str) -> None:
    """Sign a new user up through the signup form; it joins the (single) organization."""
    s = requests.Session()
    signup_url = f"{url}/user/signup/"
    s.get(signup_url, timeout=30).raise_for_status()
    csrf = s.cookies.get("csrftoken", "")
    r = s.post(
        signup_url,
        data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": signup_url, "X-CSRFToken": csrf},
        allow_redirects=False,
        timeout=30,
    )
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


def add_local_storage(
    url: str,
    headers: dict[str, str],
    project_id: int,
    path: Path,
    *,
    title: str | None = None,
    regex_filter: str | None = None,
    sync: bool = True,
) -> dict:
    """Create (and sync) a Local Storage of ``project_id`` for the folder ``path``; see
    :meth:`ml_backend.tools.local_label_studio.LocalLabelStudio.add_local_storage`."""
    body: dict = {
        "project": project_id,
        "path": str(Path(path).resolve()),
        "use_blob_urls": True,
        "title": title or Path(path).name,
    }
    if regex_filter is not None:
        body["regex_filter"] = regex_filter
    r = requests.post(f"{url}/api/storages/localfiles", json=body, headers=headers, timeout=60)
    if r.status_code != 201:
        raise LabelStudioError(
            f"creating the local storage failed: HTTP {r.status_code} {r.text[:500]}"
        )
    storage = r.json()
    if sync:
        r = requests.post(
            f"{url}/api/storages/localfiles/{storage['id']}/sync", headers=headers, timeout=300
        )
        if r.status_code >= 300:
            raise LabelStudioError(
                f"syncing the local storage failed: HTTP {r.status_code} {r.text[:500]}"
            )
        storage = r.json()
    return storage
