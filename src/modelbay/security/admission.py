"""The one admission step of every face: who calls, may it, on which model, how much.

The HTTP front (its fast path and its ASGI path alike) and the gRPC face call
:meth:`Admission.admit` with what their transport carries (the ``Authorization`` and
``x-api-key`` values, the model the call names) and what the access table declares
for the call (its scopes; whether it creates the name). It authenticates the key,
checks the scope, the model allow-list and the key's limits, and sets the request's
principal and audit actor. A call refused for its key or scope is written to the
audit log, whichever face it came by, within a budget: a flood of bad keys is not a
flood of database writes (what the budget drops is counted and logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from modelbay.errors import AccessError, NotFoundError
from modelbay.registry.audit import AuditLog, current_actor
from modelbay.security.gate import Gate, current_principal, token_from
from modelbay.security.keys import ANONYMOUS, Principal

__all__ = ["Admission"]

log = logging.getLogger("modelbay.security")

DENIALS_PER_S = 10.0  # denied calls written to the audit log a second, past a burst
DENIAL_BURST = 50.0


def _text(value: bytes | str | None) -> str | None:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class Admission:
    """``Admission(gate, audit, model_of)``; ``model_of(name)`` names the model a deployment
    or model name serves (404 when there is none)."""

    def __init__(
        self,
        gate: Gate,
        audit: AuditLog,
        model_of: Callable[[str], Awaitable[str]],
        *,
        denials_per_s: float = DENIALS_PER_S,
        denial_burst: float = DENIAL_BURST,
    ) -> None:
        self.gate = gate
        self.audit = audit
        self.model_of = model_of
        self.denials_per_s = denials_per_s
        self.denial_burst = denial_burst
        self._bucket = denial_burst
        self._filled = time.monotonic()
        self.unrecorded = 0  # denials the budget kept out of the audit log

    @property
    def enabled(self) -> bool:
        return self.gate.enabled

    async def admit(
        self,
        scopes: tuple[str, ...],
        action: str,
        *,
        authorization: bytes | str | None,
        api_key: bytes | str | None,
        model: str | None = None,
        new_name: bool = False,
    ) -> Principal:
        """The caller's principal, admitted for ``action`` (which the audit log names);
        401, 403, 404 (a model outside the key's list) or 429 otherwise. ``scopes``: any one
        suffices; empty: any valid key."""
        gate = self.gate
        if not gate.enabled:  # every call is the anonymous admin
            current_actor.set(ANONYMOUS.name)
            return ANONYMOUS
        principal: Principal | None = None
        token: str | None = None
        try:
            raw = (
                authorization.encode("latin-1") if isinstance(authorization, str) else authorization
            )
            hit = gate.cached_header(raw)
            if hit is not None:
                principal, token = hit
            else:
                token = token_from(_text(raw), _text(api_key))
                principal = gate.cached(token) or await gate.authenticate(token)
                if raw is not None and token is not None:
                    gate.remember_header(raw, principal, token)
            if scopes:
                gate.authorize(principal, scopes)
        except AccessError as exc:
            await self._denied(action, model or "", exc, principal)
            raise
        if model is not None and not principal.sees(model):
            await gate.check_model(principal, model, self.model_of, new_name)
        gate.admit(principal, token)
        current_principal.set(principal)
        current_actor.set(principal.name)
        return principal

    async def check_model(self, name: str) -> None:
        """404 unless the calling principal may see ``name`` (a model named in a body)."""
        principal = current_principal.get()
        if not principal.sees(name):
            await self.gate.check_model(principal, name, self.model_of)

    async def visible(self, name: str) -> bool:
        """Whether the calling principal may see ``name`` (a model, or a deployment of one
        it may see): what a list of things that name deployments keeps."""
        try:
            await self.check_model(name)
        except NotFoundError:
            return False
        return True

    async def _denied(
        self, action: str, target: str, exc: AccessError, principal: Principal | None
    ) -> None:
        now = time.monotonic()
        self._bucket = min(
            self.denial_burst, self._bucket + (now - self._filled) * self.denials_per_s
        )
        self._filled = now
        if self._bucket < 1.0:
            self.unrecorded += 1
            if self.unrecorded % 1000 == 1:
                log.warning(
                    "%d denied calls not written to the audit log (over %g a second)",
                    self.unrecorded,
                    self.denials_per_s,
                )
            return
        self._bucket -= 1.0
        who = principal.name if principal is not None else "unauthenticated"
        try:
            await asyncio.to_thread(self.audit.record, action, target, "denied", str(exc), who)
        except Exception:  # the caller still gets its 401/403; the server keeps serving
            log.exception("writing a denial to the audit log failed")
