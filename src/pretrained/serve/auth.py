"""Bearer API keys, compared in constant time. Health, readiness and metrics stay public."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def key_matches(given: str | None, keys: tuple[str, ...]) -> bool:
    """True when `given` equals one of `keys`. Every key is compared, each in constant time, so
    the answer's timing says nothing about how much of a key was right."""
    if given is None:
        return False
    supplied = given.encode()
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(supplied, key.encode())
    return ok


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_key(keys: tuple[str, ...]):
    """A FastAPI dependency enforcing `Authorization: Bearer KEY` when keys are configured."""

    async def check(request: Request) -> None:
        if not keys:
            return
        if not key_matches(bearer(request.headers.get("authorization")), keys):
            raise HTTPException(
                status_code=401,
                detail="invalid or missing API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
