"""Reading a POST body once, before its handler: JSON on the ``/api/`` routes, a form on
the others. Whatever the client sent, a body that cannot be read is a
:class:`.actions.RequestError` naming what is wrong, never an exception."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .actions import RequestError

__all__ = ["decode_body", "json_body", "one_line"]

_BODY_KEY: Any = web.RequestKey("agents_body", object) if hasattr(web, "RequestKey") \
    else "agents_body"
_FORM_TYPES = ("", "application/x-www-form-urlencoded", "multipart/form-data")
_NO_BODY = object()


async def decode_body(request: web.Request) -> RequestError | None:
    """Read and decode the body of a POST: JSON on the ``/api/`` routes (kept for
    :func:`json_body`), a form on the others (kept by aiohttp: the handler's
    ``request.post()`` returns it). The error names what is wrong (413 when too large):
    an unknown ``charset=``, bytes that are not text in it, JSON nested too deeply for
    Python's parser, a multipart body without its boundary."""
    charset = request.charset or "utf-8"
    try:
        if request.path.startswith("/api/"):
            text = (await request.read()).decode(charset)
            request[_BODY_KEY] = json.loads(text) if text.strip() else _NO_BODY
        elif request.content_type not in _FORM_TYPES and request.body_exists:
            return RequestError("content-type", f"send the form as "
                                "application/x-www-form-urlencoded or multipart/form-data, "
                                f"not {request.content_type[:60]!r}", 415)
        else:
            await request.post()
    except web.HTTPRequestEntityTooLarge as exc:  # bytes, or form fields
        return RequestError("body", f"the body is too large: {one_line(exc.text or '')}", 413)
    except LookupError:
        return RequestError("body", f"unknown charset {charset[:40]!r} in the Content-Type "
                                    "header; send UTF-8 (charset=utf-8)")
    except UnicodeDecodeError as exc:
        return RequestError("body", f"the body is not {charset[:40]} text (a bad byte at "
                                    f"offset {exc.start}); send UTF-8")
    except RecursionError:
        return RequestError("body", "the JSON body is nested too deeply; send a flat JSON "
                                    "object")
    except ValueError as exc:  # JSON syntax, a multipart body without its boundary, ...
        what = "JSON" if request.path.startswith("/api/") else "a readable form"
        return RequestError("body", f"body is not {what} ({one_line(str(exc))})")
    except (HttpProcessingError, web.RequestPayloadError) as exc:  # chunking, compression
        return RequestError("body", f"the body cannot be read ({one_line(str(exc))})")
    return None


def one_line(text: str, limit: int = 120) -> str:
    """An exception's text on one line, without aiohttp's ``400, message:`` prefix."""
    words = " ".join(text.split())
    return words.removeprefix("400, message: ")[:limit]


def json_body(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    """The JSON object :func:`decode_body` read from the request (``{}`` for an empty body
    when not ``required``)."""
    body = request.get(_BODY_KEY, _NO_BODY)
    if body is _NO_BODY:
        if not required:
            return {}
        raise RequestError("body", "the body is empty: send a JSON object")
    if not isinstance(body, dict):
        raise RequestError("body", "body must be a JSON object")
    return body
