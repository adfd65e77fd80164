"""One exception tree for the whole tool.

Every error carries a one-line ``hint`` that tells the user how to fix it, and an
``exit_code`` the CLI uses (1 = runtime error, 2 = usage error).

    PretrainedError
    ├── UsageError                      exit 2: the command line or the call is wrong
    │   ├── InvalidOptionError          a knob has a bad value (negative temperature …)
    │   ├── UnknownTaskError
    │   ├── ModelNotServedError         a server request names a model the server does not serve
    │   ├── ResumeMismatchError         a batch output or a fine-tuning run has other settings
    │   ├── ConstraintError             a bad or impossible output constraint (schema, regex,
    │   │                               choice, tool) — refused before any decoding
    │   └── RunExistsError              a fine-tuning run folder exists (no --resume/--overwrite)
    ├── InputError                      the input cannot be used
    │   ├── EmptyInputError             empty prompt / empty text
    │   ├── InputNotFoundError          missing file, 404 URL, unknown wiki page
    │   ├── UnreadableInputError        binary / undecodable / corrupt input
    │   │   └── NoAudioTrackError       a media file with no audio stream (silent video)
    │   ├── TemplateFieldError          a template names a field the data does not have
    │   ├── UnsafeURLError              a URL that points into the host's own network (SSRF)
    │   └── InputTooLargeError          an upload or request body over the size limit
    ├── JobError                        a transcription or batch job cannot run (locked, corrupt …)
    │   └── JobNotFoundError            no job with that id (or prefix)
    ├── ModelError
    │   ├── UnknownModelError           not an alias, not a path, not a Hub id
    │   ├── ModelNotFoundError          the Hub has no such repo or revision
    │   ├── ModelNotCachedError         offline and the model is not in the local cache
    │   ├── GatedModelError             gated/private repo and no (or insufficient) token
    │   ├── PickleRefusedError          only pickle weights and --trust-pickle not given
    │   ├── UnsupportedModelError       architecture/format does not fit the task
    │   └── ModelLoadError              anything else that broke while loading
    ├── DeviceError
    │   ├── DeviceUnavailableError      --device cuda on a machine without CUDA …
    │   └── QuantizationUnavailableError  --quantize 4bit without CUDA/bitsandbytes
    ├── OutputError                     the result cannot be written (--out folder missing …)
    ├── AuthError                       missing / read-only token for an upload
    ├── NetworkError                    the network was needed and failed
    ├── DependencyError                 an optional extra is not installed
    ├── WorkCancelledError              the caller gave up (a server deadline, a client gone)
    ├── ExportError                     an export failed or did not pass its parity check
    └── ConstraintUnmetError            a constrained output did not validate (cut at the limit)
"""

from __future__ import annotations

from collections.abc import Iterable


class PretrainedError(Exception):
    """Base class: a message, a one-line hint and the CLI exit code."""

    exit_code = 1
    default_hint = "run with PRETRAINED_DEBUG=1 to see the full traceback"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"type": type(self).__name__, "message": self.message, "hint": self.hint}


class UsageError(PretrainedError, ValueError):
    exit_code = 2
    default_hint = "see --help for the accepted values"


class InvalidOptionError(UsageError):
    pass


class UnknownTaskError(UsageError):
    default_hint = "run 'pretrained --help' to see the available commands"


class ModelNotServedError(UsageError):
    default_hint = "GET /v1/models lists the models this server serves"


class ResumeMismatchError(UsageError):
    default_hint = "rerun with the original settings to resume, or pass --restart to start over"


class RunExistsError(UsageError):
    default_hint = (
        "pass --resume to continue it, --overwrite to replace it, or --name for a new run"
    )


class InputError(PretrainedError):
    default_hint = "check the input and try again"


class EmptyInputError(InputError):
    default_hint = 'pass some text, e.g. pretrained generate "Once upon a time"'


class InputNotFoundError(InputError):
    default_hint = "check the path or address"


class UnreadableInputError(InputError):
    default_hint = "pass a text file (UTF-8 or another text encoding)"


class TemplateFieldError(InputError):
    default_hint = "use the data's field names in --template, e.g. --template '{text}'"


class UnsafeURLError(InputError):
    default_hint = "pass a public http(s) address (the server refuses private networks unless --allow-private-urls)"


class InputTooLargeError(InputError):
    default_hint = (
        "send a smaller input, or raise the server's limit (--max-upload-mb / --max-body-mb)"
    )


class NoAudioTrackError(UnreadableInputError):
    default_hint = (
        "pass a file with sound in it; for a video, check it has an audio track (ffprobe FILE)"
    )


class JobError(PretrainedError):
    default_hint = "run 'pretrained jobs list' to see the jobs"


class JobNotFoundError(JobError):
    pass


class ModelError(PretrainedError):
    default_hint = "run 'pretrained models list' to see the models that work offline"


class UnknownModelError(ModelError):
    pass


class ModelNotFoundError(ModelError):
    default_hint = "check the model id and revision on https://huggingface.co/models"


class ModelNotCachedError(ModelError):
    default_hint = (
        "connect to the internet once to download it (unset HF_HUB_OFFLINE), "
        "or use an embedded model: pretrained models list"
    )


class GatedModelError(ModelError):
    default_hint = (
        "accept the licence on the model page, then log in: hf auth login (or set HF_TOKEN)"
    )


class PickleRefusedError(ModelError):
    default_hint = (
        "pickle files can run code when loaded; pass --trust-pickle only if you trust the publisher"
    )


class UnsupportedModelError(ModelError):
    pass


class ModelLoadError(ModelError):
    pass


class DeviceError(PretrainedError):
    default_hint = "run 'pretrained doctor' to see the devices this machine has"


class DeviceUnavailableError(DeviceError):
    pass


class QuantizationUnavailableError(DeviceError):
    default_hint = (
        "drop --quantize on this machine (4/8-bit loading needs a CUDA GPU and bitsandbytes)"
    )


class OutputError(PretrainedError):
    default_hint = "check the --out path: its folder must exist and be writable"


class AuthError(PretrainedError):
    default_hint = "log in with a write token: hf auth login (or set HF_TOKEN)"


class NetworkError(PretrainedError):
    default_hint = "check your connection, or work offline with HF_HUB_OFFLINE=1"


class DependencyError(PretrainedError):
    default_hint = "install the extra: pip install 'pretrained[all]'"


class WorkCancelledError(PretrainedError):
    default_hint = "the request took longer than the server's limit; ask for less, or retry"


class ExportError(PretrainedError):
    default_hint = "see export.json in the output folder for the parity figures"


class ConstraintError(UsageError):
    """A JSON schema, regex, choice list or tool definition that is malformed, unsupported or
    can never be met (found before decoding, by the grammar compiler)."""

    default_hint = "see docs/structured.md for the accepted constraints"


class ConstraintUnmetError(PretrainedError):
    """The constrained output did not validate: decoding stopped (the token limit) before the
    constraint was complete. Never returned as if it were an answer."""

    default_hint = "raise --max-new-tokens (max_tokens on the API) and retry"


def reject_unknown_options(given: Iterable[str], known: Iterable[str], what: str) -> None:
    """Raise InvalidOptionError naming the keys of `given` that are not in `known` (a typo in
    a keyword option must fail loudly, not be ignored)."""
    known = set(known)
    unknown = set(given) - known
    if unknown:
        raise InvalidOptionError(
            f"unknown {what} option(s): {', '.join(sorted(unknown))}",
            hint=f"known options: {', '.join(sorted(known))}",
        )


def missing_dependency(package: str, extra: str) -> DependencyError:
    return DependencyError(
        f"this feature needs the Python package '{package}', which is not installed",
        hint=f"pip install 'pretrained[{extra}]'",
    )


def check_unicode(text: str, what: str = "the text") -> str:
    """`text`, or InvalidOptionError if it holds a lone surrogate (JSON's "\\ud800" decodes
    to one): such a string cannot be encoded as UTF-8, so no tokenizer or file can take it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidOptionError(
            f"{what} is not valid Unicode: a lone surrogate at character {exc.start}",
            hint="send UTF-8 text (pair each high surrogate with a low one)",
        ) from None
    return text
