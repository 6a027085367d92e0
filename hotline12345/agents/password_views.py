"""Changing one's password: ``/password`` (page and form) and ``/api/password``.

The current password is checked like a login (throttled, logged); the new one ends the
user's other sessions and keeps this one.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from typing import Any

from aiohttp import web

from hotline12345.logs import log_event

from .actions import RequestError
from .auth import check_password
from .request_body import json_body
from .users import User, UserError
from .web_context import (
    WebContext,
    asset,
    context,
    json_error,
    request_auth,
    request_session,
    request_user,
    web_log,
)

__all__ = ["api_password", "password_form", "password_page"]

_PASSWORD_ERRORS = {
    "current": "当前密码错误。",
    "new": "新密码至少 8 个字符，最多 72 字节，并且不能与当前密码相同。",
    "again": "两次输入的新密码不一致。",
    "throttled": "失败次数过多，请 5 分钟后再试。",
    "csrf": "页面已过期，请重新打开本页。",
}


async def _change_password(ctx: WebContext, request: web.Request, current: Any,
                           new: Any) -> User | RequestError:
    auth = request_auth(request)
    if not isinstance(current, str) or not current:
        return RequestError("current", "'current' is required: the password in use now")
    if not isinstance(new, str) or not new:
        return RequestError("new", "'new' is required: the new password")
    if new == current:
        return RequestError("new", "the new password must differ from the current one")
    try:
        ctx.users.check_password(new, "new")
    except UserError as exc:
        return RequestError(exc.field, exc.message)
    checked = await check_password(ctx, request.remote, auth.user.name, current, "password")
    if isinstance(checked, RequestError):
        if checked.status == 401:
            return RequestError("current", "the current password is wrong", 403)
        return checked
    try:
        user = await asyncio.to_thread(ctx.users.change_password, auth.user.name, new)
    except UserError as exc:
        return RequestError(exc.field, exc.message)
    revoked = ctx.sessions.revoke_user(user.name, keep=auth.token)
    session = request_session(request)
    if session is not None:
        session.stamp = user.stamp
    ctx.basic_cache.clear()
    log_event(web_log, "agents.password.changed", user=user.name, remote=request.remote,
              other_sessions_ended=revoked, was_one_time=auth.user.must_change)
    return user


async def password_page(request: web.Request) -> web.Response:
    user = request_user(request)
    session = request_session(request)
    csrf = session.csrf if session is not None else ""
    page = asset("password.html").decode("utf-8")
    notice = (f"<p class=\"hint\" id=\"must-change\">{html.escape(user.name)}，这是一次性密码，"
              "请先设置新密码，然后才能使用监控页面。</p>" if user.must_change
              else f"<p class=\"hint\">用户 {html.escape(user.name)}</p>")
    page = page.replace("<!--notice-->", notice)
    page = page.replace("<!--csrf-->", f'<input type="hidden" name="csrf" '
                                      f'value="{html.escape(csrf)}">')
    error = _PASSWORD_ERRORS.get(request.query.get("error", ""))
    if error:
        page = page.replace("<!--error-->", f'<p class="error" id="password-error">{error}</p>')
    return web.Response(text=page, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-store"})


async def password_form(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = request_session(request)
    if session is not None and not secrets.compare_digest(
            str(form.get("csrf", "")), session.csrf):
        raise web.HTTPFound("/password?error=csrf")
    new = str(form.get("new", ""))
    if new != str(form.get("again", "")):
        raise web.HTTPFound("/password?error=again")
    result = await _change_password(context(request), request, str(form.get("current", "")),
                                    new)
    if isinstance(result, RequestError):
        code = "throttled" if result.status == 429 else (
            "current" if result.field == "current" else "new")
        raise web.HTTPFound(f"/password?error={code}")
    raise web.HTTPFound("/")


async def api_password(request: web.Request) -> web.Response:
    try:
        body = json_body(request)
        unknown = sorted(set(body) - {"current", "new"})
        if unknown:
            raise RequestError(unknown[0], f"unknown field {unknown[0]!r}; send "
                                           "{\"current\", \"new\"}")
    except RequestError as exc:
        return json_error(exc.status, exc.field, exc.message)
    result = await _change_password(context(request), request, body.get("current"),
                                    body.get("new"))
    if isinstance(result, RequestError):
        return json_error(result.status, result.field, result.message)
    return web.json_response({"ok": True, "user": result.name, "role": result.role,
                              "must_change_password": result.must_change})
