"""The errors a user should see, as one hierarchy: one class per failure, so callers catch types.

ChatreplError                      one line at the loop boundary; the REPL keeps running
 +-- ConfigError                   a bad config file, flag or environment variable
 |    +-- EndpointError            an endpoint not configured, or its key cannot be had
 +-- ThreadError                   bad thread name, unknown thread, name already taken
 |    +-- NotInTrashError          restore or purge: no thread of that ``name`` in the trash
 +-- CommandError                  a slash command misused: unknown, ambiguous, bad argument
 |    +-- ClipboardError           /paste: no clipboard tool, or no image on the clipboard
 +-- StoreError                    the store cannot be opened, read or written
 |    +-- StoreBusyError           another process holds the write lock for too long
 |    +-- DamagedError             a stored file is not what it should be: moved aside, kept
 |    +-- UnsavedError             a write failed; the message is kept in memory until it can be
 +-- ExportError                   an export could not be written
 |    +-- ExportExistsError        its file exists and overwriting it was not asked for
 +-- ImportFormatError             a file to import is not a format chatrepl reads (importers.py)
 +-- AttachError                   a file cannot be attached: missing, not a file, of a kind not
 |    |                            sent, over its limit (attachments.py)
 |    +-- NotSentError             ...found when the message was sent: nothing was sent
 +-- ApiError                      the endpoint refused or failed a request (``partial``: some of
      |                            the answer had arrived first)
      +-- NoKeyError               no API key and no base URL: nothing to send to
      +-- HeaderRefusedError       the key or a header cannot be sent (a line break in it): the
      |    |                       endpoint's configuration (an EndpointError too), never retried
      |    +-- BaseUrlRefusedError ...nor its base_url (bytes that are not UTF-8, a bad port)
      +-- AuthenticationError      401: the API key was refused
      +-- PermissionDeniedError    403: the key is fine, the request is not allowed
      +-- NotFoundError            404: nothing at that URL (a wrong base URL)
      |    +-- ModelNotFoundError  404: the endpoint does not serve that model
      |    |    +-- ResponsesOnlyError  ...on chat completions: only on the Responses API
      |    +-- NoResponsesApiError  404 on /v1/responses: the server has no Responses API
      +-- RateLimitError           429 without insufficient_quota (``retry_after``: seconds)
      +-- QuotaExhaustedError      402, or 429 insufficient_quota: retrying never helps
      +-- ContextTooLongError      the conversation does not fit the model's context (``limit``,
      |                            ``prompt``: the window and the size the server stated)
      +-- EmptyAnswerError         HTTP 200 and an answer without a single event, or one that
                                   ended with no text and no tool call (a probable overflow)
      +-- ServerError              5xx, 408, 409: the server failed or was busy
      +-- ConnectionFailedError    no connection, or it broke before the answer began (the hint
      |                            names where the endpoint's address is set)
      +-- TimedOutError            nothing arrived for ``timeout`` seconds
      +-- BadRequestError          any other 4xx: the server rejected the request (``param``:
      |    |                       the request field it refused, where it said)
      |    +-- PreviousResponseNotFoundError  the server no longer has previous_response_id
      |    +-- EncryptedContentError     ...cannot read the encrypted reasoning replayed to it
      |    +-- UnsupportedSettingError   ...a request setting (temperature...) the model refuses
      +-- StreamError              the server reported an error, or the body broke, mid-answer

The message says what happened, in words that hold everywhere; ``hint(repl=...)`` says what to
do where the user is: REPL commands in the REPL (``/model NAME``), flags on the command line
(``-m MODEL``). ``retryable`` says whether trying the same request again may help; ``resend``
(set by chat.py) that the question got no answer at all, so the REPL's hint offers /retry, in
place of "try again" where the hint said that, so that it is said once.

Anything else that escapes a command is a bug: its traceback is logged, and one line is shown.
"""

from __future__ import annotations

from typing import ClassVar


class ChatreplError(Exception):
    """An error with a message meant for the user."""

    def hint(self, *, repl: bool) -> str:
        """What the user can do about it, in the REPL (``repl=True``) or on the command line."""
        return ""

    def line(self, *, repl: bool) -> str:
        """The message and the hint for that place, as one line."""
        hint = self.hint(repl=repl)
        return f"{self}; {hint}" if hint else str(self)


class ConfigError(ChatreplError):
    pass


class EndpointError(ConfigError):
    """An endpoint name no [endpoints.NAME] table defines, or a key that cannot be had (its
    variable unset, its command failed)."""


class ThreadError(ChatreplError):
    pass


class NotInTrashError(ThreadError):
    """A restore or a purge of ``name``, which no thread in the trash had."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no thread named {name!r} in the trash")
        self.name = name

    def hint(self, *, repl: bool) -> str:
        return "/trash lists it" if repl else ""


class CommandError(ChatreplError):
    pass


class StoreError(ChatreplError):
    pass


class StoreBusyError(StoreError):
    pass


class DamagedError(StoreError):
    """A file of the store cannot be read as what it should be (a JSON store's thread file
    that is not a thread): moved aside and kept, or left as it was when it could not be."""


class UnsavedError(StoreError):
    """Raised after a message that could not be written was kept in memory."""

    def __init__(self, message: str, *, unsaved: int) -> None:
        super().__init__(message)
        self.unsaved = unsaved


class ExportError(ChatreplError):
    pass


class ExportExistsError(ExportError):
    """The export's file exists and overwriting it was not asked for."""


class ApiError(ChatreplError):
    """A failed request. ``partial``: some of the answer had arrived (and was saved) first;
    ``status``: the HTTP status, if there was one; ``retry_after``: the wait the server asked
    for, in seconds, if it said one; ``endpoint``: the endpoint's name, for a hint that says
    where its configuration is."""

    retryable: bool = False  # may the same request, sent again, succeed?
    repl_hint: ClassVar[str] = ""
    flag_hint: ClassVar[str] = ""
    offers_retry: ClassVar[bool] = False  # the hint itself says to try again (_again)

    def __init__(self, message: str, *, partial: bool = False, status: int | None = None,
                 retry_after: float | None = None, endpoint: str = "default") -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.partial = partial
        self.status = status
        self.retry_after = retry_after
        self.resend = False  # the question got no answer: in the REPL, /retry sends it again

    def hint(self, *, repl: bool) -> str:
        return self.repl_hint if repl else self.flag_hint

    def line(self, *, repl: bool) -> str:
        hint = self.hint(repl=repl)
        if repl and self.resend and not self.offers_retry:
            hint = f"{hint}; {RETRY}" if hint else RETRY  # after the fix: the order it is done in
        return f"{self}; {hint}" if hint else str(self)

    def _again(self, repl: bool, otherwise: str) -> str:
        """"try again" (in N s, when the server said), or where /retry would send the question
        again, that: one offer to try again, not two."""
        wait = self.retry_after
        if repl and self.resend:
            return f"wait {wait:g} s, then {RETRY}" if wait else RETRY
        return f"try again in {wait:g} s" if wait else otherwise


RETRY = "/retry sends it again"


class NoKeyError(ApiError):
    """No API key and no base URL: there is nothing to send the request to."""

    repl_hint = "then restart chatrepl"


class HeaderRefusedError(ApiError, EndpointError):
    """The HTTP library refused to send a header: the endpoint's key or one of its headers holds
    a character no header can (a line break from a key command's output, a control, non-ASCII).
    A fault of the configuration, not of the connection: nothing was sent, and nothing is
    retried."""

    repl_hint = flag_hint = ("check the endpoint's api_key_env, api_key_command or headers in "
                             "config.toml (or OPENAI_API_KEY)")


def address_of(endpoint: str) -> str:
    """Where the address of ``endpoint`` (a name) is set, for a hint that says to check it."""
    if endpoint == "default":
        return "OPENAI_BASE_URL"
    return f"the base_url of [endpoints.{endpoint}] in config.toml"


class BaseUrlRefusedError(HeaderRefusedError):
    """The HTTP library refused the endpoint's base_url before sending: bytes that are not UTF-8
    in it (an OPENAI_BASE_URL set from such bytes), a port or a host no URL can have."""

    def hint(self, *, repl: bool) -> str:
        return f"check {address_of(self.endpoint)}"


class AuthenticationError(ApiError):
    """401: the endpoint refused the API key."""

    repl_hint = "set OPENAI_API_KEY to a valid key and restart chatrepl"
    flag_hint = "check OPENAI_API_KEY"


class PermissionDeniedError(ApiError):
    """403: the key was accepted but this request is not allowed (region, moderation)."""


class NotFoundError(ApiError):
    """404 for something other than the model: the base URL is probably wrong."""

    repl_hint = flag_hint = "check OPENAI_BASE_URL"


class ModelNotFoundError(NotFoundError):
    """404: the endpoint does not serve the model asked for."""

    repl_hint = "choose another with /model NAME (Tab lists the endpoint's models)"
    flag_hint = "choose another with -m MODEL"


class NoResponsesApiError(NotFoundError):
    """404 on ``/v1/responses`` for anything but the model: the server has no Responses API
    (llama-cpp-python). With ``api = "auto"`` the client falls back to chat completions;
    ``endpoint`` names the endpoint whose ``api`` setting chose it."""

    def hint(self, *, repl: bool) -> str:
        if self.endpoint == "default":
            return 'set api = "chat" (or "auto") in config.toml, or CHATREPL_API=chat'
        return f'set api = "chat" (or "auto") in [endpoints.{self.endpoint}] in config.toml'


class ResponsesOnlyError(ModelNotFoundError):
    """404 from chat completions: the model is served only on the Responses API (with
    ``api = "auto"`` the client switches to it by itself)."""

    repl_hint = flag_hint = 'set api = "responses" in the config file (or CHATREPL_API)'


class RateLimitError(ApiError):
    """429 without insufficient_quota: too many requests for now; ``retry_after`` is the wait
    the server asked for, in seconds, when it said one."""

    retryable = True
    offers_retry = True

    def hint(self, *, repl: bool) -> str:
        return self._again(repl, "wait a moment and try again")


class QuotaExhaustedError(ApiError):
    """402, or 429 with insufficient_quota: the account is out of credit; retrying never helps."""

    repl_hint = flag_hint = "retrying will not help until the account is topped up"


class ContextTooLongError(ApiError):
    """The conversation does not fit the model's context window: ``limit`` is the window the
    server stated and ``prompt`` the size it counted for the refused request, where it said."""

    repl_hint = ("start a new thread with /new, /compact this one, or choose a model with a "
                 "larger context (/model NAME)")
    flag_hint = "use a new thread (-t NAME) or a model with a larger context (-m MODEL)"

    def __init__(self, message: str, *, limit: int | None = None, prompt: int | None = None,
                 partial: bool = False, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, partial=partial, status=status, retry_after=retry_after)
        self.limit = limit
        self.prompt = prompt


class EmptyAnswerError(ApiError):
    """HTTP 200 and not a single event, or an answer that ended with no text and no tool call.
    An empty body is how llama.cpp servers answer a conversation too long for their context,
    and a proxy in front of one (LiteLLM) turns it into an empty answer ending in ``stop``:
    neither is retried as it is (chat.py trims it); a body that says ``[DONE]`` and nothing
    else is an answer a relay lost (``retryable``)."""

    repl_hint = "if the thread is long, start a new one with /new or /compact this one"
    flag_hint = "if the thread is long, use a new one (-t NAME)"


class ServerError(ApiError):
    """5xx, 408 or 409: the server failed or was too busy; the same request may succeed later
    (not ``retryable`` when the server says it could not read the request)."""

    retryable = True
    offers_retry = True

    def hint(self, *, repl: bool) -> str:
        return self._again(repl, "try again") if self.retryable else ""


class ConnectionFailedError(ApiError):
    """No connection could be made, or it broke before the answer began; ``endpoint`` names
    the endpoint, whose address the hint says where to check."""

    retryable = True

    def hint(self, *, repl: bool) -> str:
        return f"is the server running? check {address_of(self.endpoint)}"


class TimedOutError(ApiError):
    """Nothing arrived for ``timeout`` seconds (keep-alive comments do not count)."""

    offers_retry = True

    def hint(self, *, repl: bool) -> str:
        return self._again(repl, "try again") + ", or raise timeout in config.toml"


class BadRequestError(ApiError):
    """Any other 4xx: the server rejected the request as it was. ``param``: the request field
    it refused (``stream_options``, ``include``, ``temperature``...), where it said which."""

    def __init__(self, message: str, *, param: str | None = None, partial: bool = False,
                 status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, partial=partial, status=status, retry_after=retry_after)
        self.param = param


class PreviousResponseNotFoundError(BadRequestError):
    """400 on ``previous_response_id``: the server no longer has that response (expired,
    deleted, another endpoint); the client replays the whole thread instead."""


class EncryptedContentError(BadRequestError):
    """400 ``invalid_encrypted_content``: earlier answers' encrypted reasoning was made for
    another organisation or endpoint; the client sends the turn again without it."""


class UnsupportedSettingError(BadRequestError):
    """The model refuses a request setting (``setting``: chatrepl's name for it)."""

    def __init__(self, message: str, *, setting: str = "", param: str | None = None,
                 partial: bool = False, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, param=param, partial=partial, status=status,
                         retry_after=retry_after)
        self.setting = setting

    def hint(self, *, repl: bool) -> str:
        if not self.setting:
            return ""
        if repl:
            return f"the setting {self.setting} is refused: /set {self.setting} - unsets it"
        return f"the setting {self.setting} is refused: leave out -o {self.setting}=..."


class StreamError(ApiError):
    """The server reported an error after HTTP 200, or the body broke off, mid-answer."""
