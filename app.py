"""The server: Streamlit UI + /api routes + security headers, with a lifespan that builds the
process-wide runtime once and starts/stops the job worker.

    streamlit run app.py        # or: uvicorn app:app
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import streamlit as st
from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager

from core.runtime import build_runtime, install_runtime, shutdown_runtime
from core.web.api import api_routes
from core.web.auth import auth_routes
from core.web.security import SecurityHeadersMiddleware

# Streamlit treats a folder named pages/ as "MPA v1" until some session's router calls
# st.navigation: until then a URL like /admin runs pages/admin.py directly, skipping the router,
# and lists every file in the sidebar. The router always uses st.navigation, so start in that
# mode. (Every page also checks the user itself, in case this internal flag ever changes.)
PagesManager.uses_pages_directory = False


@asynccontextmanager
async def lifespan(app: st.App) -> AsyncIterator[dict]:
    runtime = build_runtime()
    runtime.start()
    install_runtime(runtime)
    try:
        yield {"runtime": runtime}
    finally:
        # Stopping waits (bounded) for running jobs; keep the event loop free meanwhile.
        await asyncio.to_thread(shutdown_runtime)


app = st.App(
    "streamlit_app.py",
    lifespan=lifespan,
    routes=[*api_routes(), *auth_routes()],
    middleware=[Middleware(SecurityHeadersMiddleware)],
)
