"""The HTTP API and dashboard of a running engine (FastAPI, served by uvicorn in-process).

* :mod:`.app`: :func:`~pulsetrader.api.app.create_app` and the route list;
* :mod:`.server`: :class:`~pulsetrader.api.server.ApiServer`, uvicorn on the engine's loop;
* :mod:`.users`, :mod:`.auth`, :mod:`.throttle`: users and argon2 hashes, JWTs, login slowdown;
* :mod:`.routes_auth`, :mod:`.routes_read`, :mod:`.routes_act`: the routes;
* :mod:`.events`: Server-Sent Events; :mod:`.metrics`: Prometheus;
* :mod:`.views`, :mod:`.schemas`: what the routes show, and its OpenAPI models.

Nothing is imported here, so ``pulsetrader create-user`` (which needs only :mod:`.users`) does
not load FastAPI.
"""
