"""A REST client for both directions: paginated GETs (couriers) and batched JSON POSTs
(destinations).

Retries are bounded: connection errors, timeouts and 5xx answers are retried with
exponential backoff (with jitter); 429 waits for ``Retry-After`` (seconds or an HTTP date)
when the server sends one. Any other 4xx stops at once with an :class:`HttpError` naming
the status, the URL (query secrets masked) and the start of the response body.
POSTs are retried too, so a receiving API should tolerate a repeated batch (most dedupe
by record key); the delivery log above this layer prevents re-sending whole runs.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from pydantic import Field, ValidationError

from cdp_pipelines.transports.base import TransportConfigError, TransportError
from cdp_pipelines.transports.credentials import Secret, resolve_secret
from cdp_pipelines.transports.options import NonEmptyStr, OptionsModel, describe_errors

_SECRET_PARAM_HINTS = (
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "signature",
    "sig",
    "auth",
    "credential",
    "code",
)
_SNIPPET_CHARS = 300


class RestOptions(OptionsModel):
    type: Literal["rest"] = "rest"
    base_url: NonEmptyStr
    token_env: str | None = None
    token_file: str | None = None
    auth_header: str = "Authorization"
    # Sent before the token ("Bearer <token>"); empty sends the token alone.
    auth_scheme: str = "Bearer"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = 30.0
    max_retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_retry_after_seconds: float = 300.0


class HttpError(TransportError):
    """An HTTP request failed for good; ``status`` is None when no answer came back."""

    def __init__(self, message: str, status: int | None, url: str, snippet: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.snippet = snippet


def redact_url(url: str, secret_values: Iterable[str] = ()) -> str:
    """The URL with user info dropped and secret-looking query values masked."""
    parts = urlsplit(url)
    query = [
        (name, "***" if any(hint in name.lower() for hint in _SECRET_PARAM_HINTS) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    clean = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))
    for value in secret_values:
        clean = clean.replace(value, "***")
    return clean


def _json_default(value: Any) -> Any:
    """Serialise what record dicts from pandas/SQL carry: timestamps, numpy scalars, decimals."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _dig(document: Any, dotted: str | None, what: str, url: str) -> Any:
    if not dotted:
        return document
    current = document
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            keys = sorted(current) if isinstance(current, Mapping) else type(current).__name__
            raise HttpError(
                f"GET {url}: response has no {what} field {dotted!r} (found {keys})", 200, url
            )
        current = current[part]
    return current


class Pagination(OptionsModel):
    """How a GET endpoint pages its records.

    style: ``none`` | ``page_number`` | ``cursor`` | ``link_header``.
    records_field: dotted path to the list of records in the JSON body (None: the body is the list).
    page_number: ``page_param`` from ``start_page``; stops on an empty page, or a short
    one when ``page_size`` is given (sent as ``page_size_param``).
    cursor: sends ``cursor_param`` = the value at ``cursor_field`` of the last answer;
    stops when that is null or empty.
    link_header: follows ``Link: <url>; rel="next"`` until there is none.
    """

    style: Literal["none", "page_number", "cursor", "link_header"] = "none"
    records_field: str | None = None
    page_param: str = "page"
    start_page: int = 1
    page_size_param: str | None = None
    page_size: int | None = None
    cursor_param: str = "cursor"
    cursor_field: str = "next_cursor"
    max_pages: int = 100_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | Pagination | None) -> Pagination:
        if isinstance(config, Pagination):
            return config
        try:
            return cls.model_validate(config or {})
        except ValidationError as exc:
            raise TransportConfigError(
                f"pagination config {dict(config or {})}: {describe_errors(exc)}"
            ) from None


class RestClient:
    def __init__(
        self,
        base_url: str,
        token: Secret | None = None,
        auth_header: str = "Authorization",
        auth_scheme: str = "Bearer",
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float = 30.0,
        max_retries: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        max_retry_after_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_retries = int(max_retries)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self._sleep = sleep
        self._token = token
        self._session = requests.Session()
        self._session.headers.update({"Accept": "application/json", **(headers or {})})
        if token is not None:
            prefix = f"{auth_scheme} " if auth_scheme else ""
            self._session.headers[auth_header] = prefix + token.reveal()

    @classmethod
    def from_options(cls, options: RestOptions) -> RestClient:
        return cls(
            base_url=options.base_url,
            token=resolve_secret(
                options, "token", where=f"rest client ({options.base_url})", required=False
            ),
            auth_header=options.auth_header,
            auth_scheme=options.auth_scheme,
            headers=options.headers,
            timeout_seconds=options.timeout_seconds,
            max_retries=options.max_retries,
            backoff_seconds=options.backoff_seconds,
            max_backoff_seconds=options.max_backoff_seconds,
            max_retry_after_seconds=options.max_retry_after_seconds,
        )

    def __repr__(self) -> str:
        return f"RestClient(base_url={self.base_url!r})"

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def _redact(self, url: str) -> str:
        return redact_url(url, [self._token.reveal()] if self._token else [])

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * 2**attempt)
        return ceiling * random.uniform(0.5, 1.0)

    @staticmethod
    def _retry_after(response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        if value.strip().isdigit():
            return float(value)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())

    def _error(self, method: str, url: str, response, why: str) -> HttpError:
        shown = self._redact(url)
        snippet = response.text[:_SNIPPET_CHARS]
        if self._token:
            snippet = snippet.replace(self._token.reveal(), "***")
        return HttpError(
            f"{method} {shown} {why}: HTTP {response.status_code} {response.reason}: {snippet!r}",
            response.status_code,
            shown,
            snippet,
        )

    def request(
        self,
        method: str,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotency_key: str | None = None,
    ):
        """Send one request with bounded retries; return the successful ``requests.Response``.

        ``idempotency_key`` goes in the ``Idempotency-Key`` header (the convention of Stripe
        and the IETF draft), the same on every retry, so an API that keeps keys applies a
        request once even when an answer was lost and it is sent again.
        """
        import requests

        url = self._url(path_or_url)
        data = None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        if json_body is not None:
            data = json.dumps(json_body, default=_json_default).encode()
            headers["Content-Type"] = "application/json"
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout_seconds,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    shown = self._redact(url)
                    raise HttpError(
                        f"{method} {shown}: no answer after {attempts} attempts: "
                        f"{type(exc).__name__}",
                        None,
                        shown,
                    ) from exc
                self._sleep(self._backoff(attempt))
                continue
            status = response.status_code
            if status == 429:
                wait = self._retry_after(response)
                if wait is not None and wait > self.max_retry_after_seconds:
                    raise self._error(
                        method,
                        response.url,
                        response,
                        f"asked to wait {wait:.0f}s (Retry-After), more than "
                        f"max_retry_after_seconds={self.max_retry_after_seconds:.0f}",
                    )
                if last:
                    raise self._error(
                        method,
                        response.url,
                        response,
                        f"still rate-limited after {attempts} attempts",
                    )
                self._sleep(wait if wait is not None else self._backoff(attempt))
                continue
            if status >= 500:
                if last:
                    raise self._error(
                        method, response.url, response, f"failed after {attempts} attempts"
                    )
                self._sleep(self._backoff(attempt))
                continue
            if status >= 400:
                raise self._error(method, response.url, response, "was refused")
            return response
        raise AssertionError("unreachable: the retry loop returns or raises")

    def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        pagination: Mapping[str, Any] | Pagination | None = None,
    ) -> Iterator[list[Any]]:
        """Yield each page's list of records, following the pagination style."""
        paging = Pagination.from_config(pagination)
        query = dict(params or {})
        if paging.page_size is not None and paging.page_size_param:
            query[paging.page_size_param] = paging.page_size
        url: str | None = self._url(path)
        page_number = paging.start_page
        seen_cursors: set[str] = set()
        for _ in range(paging.max_pages):
            if paging.style == "page_number":
                query[paging.page_param] = page_number
            response = self.request("GET", url, params=query)
            body = response.json() if response.content else None
            records = _dig(body, paging.records_field, "records", self._redact(response.url))
            if not isinstance(records, list):
                raise HttpError(
                    f"GET {self._redact(response.url)}: records at "
                    f"{paging.records_field or 'the top level'} are a "
                    f"{type(records).__name__}, not a list",
                    response.status_code,
                    self._redact(response.url),
                )
            yield records
            if paging.style == "none":
                return
            if paging.style == "page_number":
                if not records or (paging.page_size and len(records) < paging.page_size):
                    return
                page_number += 1
            elif paging.style == "cursor":
                cursor = _dig(body, paging.cursor_field, "cursor", self._redact(response.url))
                if cursor in (None, ""):
                    return
                if str(cursor) in seen_cursors:
                    raise HttpError(
                        f"GET {self._redact(response.url)}: cursor {cursor!r} repeated; "
                        "the API would page forever",
                        response.status_code,
                        self._redact(response.url),
                    )
                seen_cursors.add(str(cursor))
                query[paging.cursor_param] = cursor
            else:
                next_url = response.links.get("next", {}).get("url")
                if not next_url:
                    return
                # The next link carries its own query string.
                url, query = urljoin(response.url, next_url), {}
        raise HttpError(
            f"GET {self._redact(self._url(path))}: more than max_pages={paging.max_pages} pages; "
            "raise pagination.max_pages if that is expected",
            None,
            self._redact(self._url(path)),
        )

    def get_records(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        pagination: Mapping[str, Any] | Pagination | None = None,
    ) -> list[Any]:
        """All records from every page."""
        return [record for page in self.iter_pages(path, params, pagination) for record in page]

    def post_batches(
        self,
        path: str,
        records: Iterable[Any],
        batch_size: int = 100,
        wrap_field: str | None = None,
    ) -> int:
        """POST records as JSON arrays of ``batch_size`` (or ``{wrap_field: [...]}``);
        return the number of batches sent."""
        if batch_size < 1:
            raise TransportConfigError(f"post_batches: batch_size must be >= 1, got {batch_size}")
        sent = 0
        batch: list[Any] = []

        def flush() -> None:
            nonlocal sent
            self.request("POST", path, json_body={wrap_field: batch} if wrap_field else batch)
            sent += 1

        for record in records:
            batch.append(record)
            if len(batch) == batch_size:
                flush()
                batch = []
        if batch:
            flush()
        return sent

    def close(self) -> None:
        self._session.close()
