"""Logging in and out: the login page and form, ``/api/login``, ``/logout``,
``/api/logout``. A session is a random token in an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from aiohttp import web

from .actions import RequestError
from .auth import COOKIE, log_in
from .request_body import json_body
from .web_context import asset, context, json_error

__all__ = ["api_login", "login_form", "login_page", "logout", "set_session_cookie"]


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict",
                        secure=request.secure,
                        max_age=int(context(request).settings.session_max_s), path="/")


async def login_page(request: web.Request) -> web.Response:
    page = asset("login.html").decode("utf-8")
    error = request.query.get("error")
    if error:
        text = ("登录失败次数过多，请 5 分钟后再试。" if error == "throttled"
                else "用户名或密码错误。")
        page = page.replace("<!--error-->", f'<p class="error" id="login-error">{text}</p>')
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def login_form(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("user", "")), str(form.get("password", ""))
    result = await log_in(context(request), request, name, password)
    if isinstance(result, RequestError):
        raise web.HTTPFound("/login?error=" + ("throttled" if result.status == 429 else "1"))
    user, token, _ = result
    response = web.HTTPFound("/password" if user.must_change else "/")
    set_session_cookie(request, response, token)
    raise response


async def api_login(request: web.Request) -> web.Response:
    try:
        body = json_body(request)
        name = body.get("user")
        password = body.get("password")
        if not isinstance(name, str) or not name:
            raise RequestError("user", "'user' is required: the user name")
        if not isinstance(password, str) or not password:
            raise RequestError("password", "'password' is required")
    except RequestError as exc:
        return json_error(exc.status, exc.field, exc.message)
    result = await log_in(context(request), request, name, password)
    if isinstance(result, RequestError):
        return json_error(result.status, result.field, result.message)
    user, token, session = result
    response = web.json_response({"user": user.name, "role": user.role, "csrf": session.csrf,
                                  "must_change_password": user.must_change})
    set_session_cookie(request, response, token)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(COOKIE, "")
    context(request).sessions.pop(token)
    if request.path == "/logout":
        response: web.StreamResponse = web.HTTPFound("/login")
    else:
        response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    if isinstance(response, web.HTTPFound):
        raise response
    return response
