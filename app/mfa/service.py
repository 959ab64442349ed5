"""Virtual MFA devices and TOTP checks, as AWS models them.

A code is accepted within one 30-second step either side of now, never
twice (the device remembers the newest step it accepted), and five wrong
codes in a row lock the device for five minutes. A failure is counted though
the refusal rolls the call back (ServiceError.after_rollback, made by
app.runtime.recording_refusals under the call's locks, so parallel guesses
queue behind it). Seeds are sealed with the master key.
"""

from __future__ import annotations

import base64
import hmac
import io
import re
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pyotp
import qrcode
from qrcode.image.pure import PyPNGImage
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.arn import Arn
from app.crypto import SecretBox
from app.db.models import MfaDevice
from app.db.models import User
from app.errors import AccessDeniedError
from app.errors import DeleteConflictError
from app.errors import EntityAlreadyExistsError
from app.errors import InvalidAuthenticationCodeError
from app.errors import NoSuchEntityError
from app.errors import ServiceError
from app.iam import names
from app.iam.service import IamService

STEP_SECONDS = 30
#: Steps either side of now a sign-in code may come from (clock drift of the phone).
DRIFT_STEPS = 1
#: How far back EnableMFADevice / ResyncMFADevice look for two consecutive codes.
SYNC_STEPS = 10
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
OWNER_KIND = "mfa"
_CODE = re.compile(r"[0-9]{6}")


class MfaService:
    def __init__(self, iam: IamService, secrets_: SecretBox) -> None:
        self.iam = iam
        self.session: Session = iam.session
        self.secrets = secrets_
        self.clock = iam.clock

    # --- devices ------------------------------------------------------------------

    def serial(self, device: MfaDevice) -> str:
        return self.iam.arn("mfa", device.path, device.name)

    def create_virtual(
        self,
        name: str,
        path: str | None,
        tags: Sequence[tuple[str, str]] = (),
        *,
        subject: str | None = None,
    ) -> tuple[MfaDevice, str]:
        """A new device and its seed (base32), shown once."""
        names.check_length("virtualMFADeviceName", name, 1, 226)
        names.check_pattern("virtualMFADeviceName", name, names.NAME_PATTERN)
        path = names.check_path("path", path)
        if self._by_name(name) is not None:
            raise EntityAlreadyExistsError(
                "MFADevice entity at the same path and name already exists."
            )
        seed = pyotp.random_base32(32)
        device = MfaDevice(
            account_id=self.iam.account_id,
            name=name,
            name_key=name.lower(),
            path=path,
            seed_sealed=self.secrets.seal(seed),
            subject=subject,
            created_at=self.clock.now(),
        )
        self.session.add(device)
        self.session.flush()
        if tags:
            self.iam.tag(OWNER_KIND, device.pk, tags)
        return device, seed

    def qr_png(self, device: MfaDevice, seed: str, label: str | None = None) -> bytes:
        label = label or f"{device.name}@{self.iam.account_id}"
        uri = f"otpauth://totp/{quote(label)}?secret={seed}&issuer=fedbridge"
        image = qrcode.make(uri, image_factory=PyPNGImage)
        out = io.BytesIO()
        image.save(out)
        return out.getvalue()

    def device(self, serial: str, *, for_update: bool = False) -> MfaDevice:
        names.check_length("serialNumber", serial, 9, 256)
        arn = Arn.parse(serial)
        missing = NoSuchEntityError(
            f"VirtualMFADevice with serial number {names._shown(serial)} doesn't exist.",
            reason="mfa.unknown_device",
        )
        if arn is None or arn.service != "iam" or not arn.resource.startswith("mfa/"):
            raise missing
        if arn.account != self.iam.account_id:
            raise missing
        device = self._by_name(arn.resource.rsplit("/", 1)[1], for_update=for_update)
        if device is None or self.serial(device) != serial:
            raise missing
        return device

    def _by_name(self, name: str, *, for_update: bool = False) -> MfaDevice | None:
        query = select(MfaDevice).where(
            MfaDevice.account_id == self.iam.account_id, MfaDevice.name_key == name.lower()
        )
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def unused(self, name: str) -> MfaDevice | None:
        """The device of that name if it was never enabled and belongs to no one."""
        device = self._by_name(name, for_update=True)
        if device is None or device.enabled_at is not None or device.user_pk is not None:
            return None
        return device

    def for_user(self, user: User) -> list[MfaDevice]:
        return list(
            self.session.scalars(
                select(MfaDevice).where(MfaDevice.user_pk == user.pk).order_by(MfaDevice.name_key)
            )
        )

    def for_subject(self, subject: str) -> MfaDevice | None:
        return self.session.scalar(
            select(MfaDevice).where(
                MfaDevice.account_id == self.iam.account_id, MfaDevice.subject == subject
            )
        )

    def virtual_devices(self, status: str | None) -> list[MfaDevice]:
        query = select(MfaDevice).where(
            MfaDevice.account_id == self.iam.account_id, MfaDevice.subject.is_(None)
        )
        if status == "Assigned":
            query = query.where(MfaDevice.user_pk.is_not(None))
        elif status == "Unassigned":
            query = query.where(MfaDevice.user_pk.is_(None))
        elif status not in (None, "Any"):
            raise names.validation_error(
                "assignmentStatus",
                status,
                "Member must satisfy enum value set: [Assigned, Unassigned, Any]",
            )
        return list(self.session.scalars(query.order_by(MfaDevice.name_key)))

    def enable(self, user: User, serial: str, code1: str, code2: str) -> None:
        device = self.device(serial, for_update=True)
        if device.user_pk is not None or device.subject is not None:
            raise EntityAlreadyExistsError(
                "MFA device is already in use.", reason="mfa.already_assigned"
            )
        self._sync(device, code1, code2)
        device.user_pk = user.pk
        device.enabled_at = self.clock.now()

    def resync(self, user: User, serial: str, code1: str, code2: str) -> None:
        device = self._assigned(user, serial)
        self._sync(device, code1, code2)

    def deactivate(self, user: User, serial: str) -> None:
        device = self._assigned(user, serial)
        device.user_pk = None
        device.enabled_at = None

    def delete(self, serial: str) -> None:
        device = self.device(serial, for_update=True)
        if device.user_pk is not None:
            raise DeleteConflictError(
                "MFA device is still assigned to a user: deactivate it first.",
                reason="mfa.delete_assigned",
            )
        self.iam.untag_all(OWNER_KIND, device.pk)
        self.session.delete(device)

    def _assigned(self, user: User, serial: str) -> MfaDevice:
        device = self.device(serial, for_update=True)
        if device.user_pk != user.pk:
            raise NoSuchEntityError(
                f"MFA device {names._shown(serial)} is not assigned to user {user.name}.",
                reason="mfa.not_assigned",
            )
        return device

    # --- codes ----------------------------------------------------------------------

    def _totp(self, device: MfaDevice) -> pyotp.TOTP:
        return pyotp.TOTP(self.secrets.open(device.seed_sealed), interval=STEP_SECONDS)

    def _step(self, moment: datetime) -> int:
        return int(moment.timestamp()) // STEP_SECONDS

    def _sync(self, device: MfaDevice, code1: str, code2: str) -> None:
        """Two consecutive codes from the device's recent past (Enable/Resync)."""
        totp = self._totp(device)
        now_step = self._step(self.clock.now())
        for step in range(now_step - SYNC_STEPS, now_step + DRIFT_STEPS + 1):
            if _same(totp.generate_otp(step), code1) and _same(totp.generate_otp(step + 1), code2):
                if step + 1 <= device.last_step:
                    break
                device.last_step = step + 1
                device.failures, device.locked_until = 0, None
                return
        raise InvalidAuthenticationCodeError(
            "Authentication code for device is not valid.", reason="totp.invalid"
        )

    def verify(self, device: MfaDevice, code: str | None) -> None:
        """Accept a sign-in code once; count failures towards a lockout."""
        now = self.clock.now()
        if device.locked_until is not None and device.locked_until > now:
            raise AccessDeniedError(
                "MultiFactorAuthentication failed: too many wrong codes. Try again after "
                f"{device.locked_until.strftime('%H:%M:%S')} UTC.",
                reason="totp.locked",
            )
        if code is not None and _CODE.fullmatch(code):
            totp = self._totp(device)
            now_step = self._step(now)
            for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
                if _same(totp.generate_otp(step), code):
                    if step <= device.last_step:
                        raise self._failure(
                            device,
                            now,
                            "totp.replayed",
                            "this code has already been used; wait for the next one",
                        )
                    device.last_step = step
                    device.failures, device.locked_until = 0, None
                    return
        raise self._failure(device, now, "totp.invalid", "invalid MFA one time pass code")

    def _failure(self, device: MfaDevice, now: datetime, reason: str, why: str) -> ServiceError:
        if device.failures + 1 >= MAX_FAILURES:
            # This failure locks the device: say so, and until when, to the person and the
            # audit log (totp.lockout), rather than a plain "wrong code".
            until = (now + LOCKOUT).strftime("%H:%M:%S")
            reason, why = (
                "totp.lockout",
                f"{why}; too many wrong codes, try again after {until} UTC",
            )
        err = AccessDeniedError(f"MultiFactorAuthentication failed with {why}.", reason=reason)
        pk = device.pk

        def count(session: Session) -> None:
            row = session.get(MfaDevice, pk, with_for_update=True)
            if row is None:
                return
            row.failures += 1
            if row.failures >= MAX_FAILURES:
                row.failures, row.locked_until = 0, now + LOCKOUT

        err.after_rollback.append(count)
        return err


def _same(expected: str, given: str | None) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def seed_blob(seed: str) -> str:
    """AWS returns the seed and the QR code as blobs: base64 in the XML."""
    return base64.b64encode(seed.encode()).decode()


def png_blob(png: bytes) -> str:
    return base64.b64encode(png).decode()


def shape(service: MfaService, device: MfaDevice, user: User | None) -> dict[str, Any]:
    data: dict[str, Any] = {"SerialNumber": service.serial(device)}
    if user is not None:
        data["User"] = {
            "Path": user.path,
            "UserName": user.name,
            "UserId": user.user_id,
            "Arn": service.iam.user_arn(user),
            "CreateDate": user.created_at,
        }
        data["EnableDate"] = device.enabled_at
    return data
