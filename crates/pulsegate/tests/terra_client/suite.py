"""Drives a running pulsegate through Terra's own Python client (terra-python 1.1.0).

Started by crates/pulsegate/tests/terra_client.rs, which runs pulsegate, the mock
provider APIs and the customer's webhook sink on 127.0.0.1 and passes everything
through environment variables (nothing here picks ports or secrets):

  PG_URL            pulsegate's root (http://127.0.0.1:<port>); the client's base_url
                    is PG_URL + "/v2"
  PG_DEV_ID         developer account (POST /v1/admin/developers)
  PG_API_KEY        its key
  PG_HARNESS_URL    the test harness: GET /received (every request the sink got:
                    headers and exact body) and GET /strava (the mock's call counts)
  PG_SIGNING_SECRET the destination's signing secret
  PG_PROVIDER_URL   the mock provider's root (its authorize page)
  PG_PLAN           JSON: user references, date ranges ([start, end): Terra's end_date
                    is exclusive) and the activity ids the mock serves in them (see
                    terra_client.rs)

Modes (argv[1]):
  flow       widget session → widget page → provider authorize URL → callback;
             authenticateuser → callback → `auth` webhook; userInfo by reference id;
             inline activity over several provider pages; to_webhook=True → events with
             the reference; end_date exclusive; NoDataReturned for the types Strava
             does not give; the public integrations listings (icons);
             deauthenticateuser → `deauth`; then checks every webhook.
  request    one to_webhook=True activity request (PG_PLAN: user_id, start, end);
             prints {"reference": …}.
  webhooks   checks every webhook the sink received; prints a summary.
  writes     POST/DELETE through the client's write methods (PG_PLAN: strava_user,
             fitbit_user); answers checked strictly against the client's models.

Every webhook must pass terra.utils.verify_signature.verify_terra_webhook_signature
with the destination's secret, and parse into the client's own model for its `type`
(terra.types.webhook_event_type.WebhookEventType) with strict types and no field the
model does not declare, at any depth. Exit status 0 = every check passed.
"""

import collections.abc
import json
import os
import re
import sys
import time
import typing
import urllib.parse

import httpx
import pydantic

import terra
from terra import Terra
from terra.core.serialization import (
    convert_and_respect_annotation_metadata,
    get_field_to_alias_mapping,
)
from terra.errors.not_found_error import NotFoundError
from terra.types.activity import Activity
from terra.types.auth_error_event import AuthErrorEvent
from terra.types.auth_success_event import AuthSuccessEvent
from terra.types.user_auth_webhook_payload import (
    UserAuthWebhookPayload_Error,
    UserAuthWebhookPayload_Success,
)
from terra.core.pydantic_utilities import parse_obj_as
from terra.athlete.types.athlete_fetch_response import (
    AthleteFetchResponse,
    AthleteFetchResponse_NoData,
)
from terra.integrations.types.integrations_fetch_response import IntegrationsFetchResponse
from terra.types.data_sent_to_webhook import DataSentToWebhook
from terra.types.integration_provider_types import IntegrationProviderTypes
from terra.types.integrations_response import IntegrationsResponse
from terra.types.no_data_returned import NoDataReturned
from terra.types.terra_user import TerraUser
from terra.types.webhook_event_type import WebhookEventType
from terra.utils.verify_signature import verify_terra_webhook_signature
from terra.activity.types.activity_fetch_response_data import ActivityFetchResponseData
from terra.authentication.types.authentication_authenticate_user_response import (
    AuthenticationAuthenticateUserResponse,
)
from terra.authentication.types.authentication_deauthenticate_user_response import (
    AuthenticationDeauthenticateUserResponse,
)
from terra.authentication.types.authentication_generate_widget_session_response import (
    AuthenticationGenerateWidgetSessionResponse,
)
from terra.user.types.user_get_info_for_user_id_response_is_authenticated import (
    UserGetInfoForUserIdResponseIsAuthenticated,
)

PG_URL = os.environ["PG_URL"].rstrip("/")
HARNESS = os.environ["PG_HARNESS_URL"].rstrip("/")
SECRET = os.environ["PG_SIGNING_SECRET"]
PLAN = json.loads(os.environ.get("PG_PLAN", "{}"))
WAIT = float(os.environ.get("PG_WAIT_SECONDS", "30"))


def log(*args):
    print(*args, flush=True)


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


# ---------------------------------------------------------------------------------
# Strict validation against terra-python's own models. The models allow extra fields
# (extra="allow") and terra-python builds them without validating; a strict copy
# (extra="forbid", recursively) is what this does: every key must be a declared wire
# name at its depth, and pydantic's strict validation must accept the values.
# ---------------------------------------------------------------------------------


def _strip(ann):
    while True:
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            ann = typing.get_args(ann)[0]
        elif origin is typing.Union and type(None) in typing.get_args(ann):
            rest = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(rest) != 1:
                return ann
            ann = rest[0]
        else:
            return ann


def _is_model(t):
    return isinstance(t, type) and issubclass(t, pydantic.BaseModel)


def _unknown_keys(obj, ann, path, out):
    ann = _strip(ann)
    origin = typing.get_origin(ann)
    if origin in (list, collections.abc.Sequence):
        if not isinstance(obj, list):
            return
        for i, x in enumerate(obj):
            _unknown_keys(x, typing.get_args(ann)[0], f"{path}[{i}]", out)
    elif origin is typing.Union:
        # An undiscriminated union of models: the member with the fewest unknown keys.
        best = None
        for member in typing.get_args(ann):
            found = []
            _unknown_keys(obj, member, path, found)
            if best is None or len(found) < len(best):
                best = found
        out.extend(best or [])
    elif _is_model(ann):
        if not isinstance(obj, dict):
            return
        hints = typing.get_type_hints(ann, include_extras=True)
        aliases = get_field_to_alias_mapping(ann)
        wire = {aliases.get(n, n): n for n in ann.model_fields}
        for k, v in obj.items():
            if k in wire:
                _unknown_keys(v, hints[wire[k]], f"{path}.{k}", out)
            elif k in TERRA_EXTRAS.get(ann.__name__, {}):
                if not isinstance(v, TERRA_EXTRAS[ann.__name__][k]):
                    out.append(f"{path}.{k} (not {TERRA_EXTRAS[ann.__name__][k]})")
            else:
                out.append(f"{path}.{k}")


# Fields Terra sends (in its payloads and docs) that terra-python 1.1.0's models lack,
# allowed on these models only, with these types. Nothing else unknown passes.
# - TerraUser.created_at: when the connection was made (Terra's docs' `auth` example).
# - The `auth` success payload's `message` ("User has successfully authenticated") and
#   `version` (Terra's docs' `auth` example).
TERRA_EXTRAS = {
    "TerraUser": {"created_at": (str, type(None))},
    "UserAuthWebhookPayload_Success": {"message": str, "version": str},
}


def _stored_extras(m, path, out):
    if isinstance(m, pydantic.BaseModel):
        allowed = TERRA_EXTRAS.get(type(m).__name__, {})
        out.extend(f"{path}.{k}" for k in (m.model_extra or {}) if k not in allowed)
        for n in type(m).model_fields:
            _stored_extras(getattr(m, n), f"{path}.{n}", out)
    elif isinstance(m, (list, tuple)):
        for i, x in enumerate(m):
            _stored_extras(x, f"{path}[{i}]", out)


def strict_problems(data, cls, name=None):
    """What a strict (extra="forbid", strict types) copy of `cls` would reject."""
    name = name or getattr(cls, "__name__", str(cls))
    problems = []
    unknown = []
    _unknown_keys(data, cls, name, unknown)
    problems += [f"unknown field {p}" for p in unknown]
    try:
        obj = convert_and_respect_annotation_metadata(
            object_=data, annotation=cls, direction="read"
        )
        inst = pydantic.TypeAdapter(cls).validate_python(obj, strict=True)
        extras = []
        _stored_extras(inst, name, extras)
        problems += [f"pydantic extra {p}" for p in extras if p not in unknown]
    except pydantic.ValidationError as e:
        problems.append(f"validation error: {e}")
    return problems


# The webhook models, by `type` (`auth` has a success and an error model).
WEBHOOK_MODELS = {}
for _cls in typing.get_args(WebhookEventType):
    _t = _cls.model_fields["type"].default
    if _cls in (AuthSuccessEvent, AuthErrorEvent):
        continue
    WEBHOOK_MODELS[_t] = _cls


def webhook_model(body):
    t = body.get("type")
    if t == "auth":
        # terra-python's auth payload models, discriminated on `status`
        # (`UserAuthWebhookPayload`): they declare `status`; AuthSuccessEvent /
        # AuthErrorEvent (the union's members) do not.
        if body.get("status") == "success":
            return UserAuthWebhookPayload_Success
        return UserAuthWebhookPayload_Error
    return WEBHOOK_MODELS.get(t)


# Unknown fields pulsegate's webhooks may carry beyond terra-python 1.1.0's models:
# none. Any unknown field, at any depth, fails the suite.
KNOWN_WEBHOOK_DIFFERENCES = set()
WEBHOOK_DIFFERENCES_SEEN = set()


def check_webhook(delivery):
    """Signature and model checks of one delivery; returns (body, model, problems)."""
    problems = []
    raw = delivery["body"]
    headers = delivery["headers"]
    try:
        verify_terra_webhook_signature(raw, headers.get("terra-signature", ""), SECRET)
    except Exception as e:  # WebhookVerificationError and anything else
        problems.append(f"verify_terra_webhook_signature: {type(e).__name__}: {e}")
    # A wrong secret must fail (the check is real).
    try:
        verify_terra_webhook_signature(
            raw, headers.get("terra-signature", ""), SECRET + "x"
        )
        problems.append("verify_terra_webhook_signature accepted a wrong secret")
    except Exception:
        pass
    body = json.loads(raw)
    cls = webhook_model(body)
    if cls is None:
        problems.append(f"no terra-python webhook model for type {body.get('type')!r}")
        return body, None, problems
    found = strict_problems(body, cls)
    WEBHOOK_DIFFERENCES_SEEN.update(p for p in found if p in KNOWN_WEBHOOK_DIFFERENCES)
    problems += [p for p in found if p not in KNOWN_WEBHOOK_DIFFERENCES]
    # The client's own union resolves it to the same model (for `auth`, the union holds
    # AuthSuccessEvent / AuthErrorEvent; the payload union UserAuthWebhookPayload is the
    # one that declares `status`, checked strictly above).
    expected = cls
    if body.get("type") == "auth":
        expected = AuthSuccessEvent if body.get("status") == "success" else AuthErrorEvent
    try:
        parsed = pydantic.TypeAdapter(WebhookEventType).validate_python(body)
        if type(parsed) is not expected:
            problems.append(
                f"WebhookEventType parsed it as {type(parsed).__name__}, not {expected.__name__}"
            )
    except pydantic.ValidationError as e:
        problems.append(f"WebhookEventType rejected it: {e}")
    if not headers.get("terra-reference"):
        problems.append("no terra-reference header")
    return body, cls, problems


def received():
    r = httpx.get(f"{HARNESS}/received", timeout=10)
    r.raise_for_status()
    return r.json()


def strava_calls():
    r = httpx.get(f"{HARNESS}/strava", timeout=10)
    r.raise_for_status()
    return r.json()


def wait_for(what, pred, timeout=WAIT):
    """Polls the sink until `pred(deliveries)` returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        got = received()
        found = pred(got)
        if found:
            return found
        if time.monotonic() > deadline:
            types = [json.loads(d["body"]).get("type") for d in got]
            fail(f"timed out waiting for {what}; the sink has {types}")
        time.sleep(0.1)


def bodies(deliveries, **match):
    out = []
    for d in deliveries:
        b = json.loads(d["body"])
        if all(_get(b, k) == v for k, v in match.items()):
            out.append((d, b))
    return out


def _get(body, dotted):
    cur = body
    for part in dotted.split("__"):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def check_all_webhooks():
    """Every delivery so far: signature + strict model. Returns the summary."""
    deliveries = received()
    failures = []
    by_type = {}
    for i, d in enumerate(deliveries):
        if d["status"] != 200:
            failures.append(f"delivery {i}: the sink answered {d['status']}")
        body, cls, problems = check_webhook(d)
        by_type[body.get("type")] = by_type.get(body.get("type"), 0) + 1
        for p in problems:
            failures.append(f"delivery {i} ({body.get('type')}): {p}")
    for f in failures:
        log("WEBHOOK PROBLEM:", f)
    check(not failures, f"{len(failures)} webhook problems (above)")
    return {
        "validated": len(deliveries),
        "by_type": by_type,
        "known_differences": sorted(WEBHOOK_DIFFERENCES_SEEN),
    }


# ---------------------------------------------------------------------------------
# The client, with every API answer recorded (a public httpx hook) for strict checks.
# ---------------------------------------------------------------------------------

API_ANSWERS = []


def _record(response):
    response.read()
    API_ANSWERS.append(response)


def make_client(dev_id=None, api_key=None):
    http = httpx.Client(
        timeout=60, follow_redirects=True, event_hooks={"response": [_record]}
    )
    return Terra(
        dev_id=dev_id or os.environ["PG_DEV_ID"],
        api_key=api_key or os.environ["PG_API_KEY"],
        base_url=PG_URL + "/v2",
        httpx_client=http,
    )


def last_answer(path):
    r = API_ANSWERS[-1]
    check(
        r.request.url.path == "/v2/" + path,
        f"the client called {r.request.url}, expected /v2/{path}",
    )
    check(
        str(r.request.url).startswith(PG_URL + "/v2/"),
        f"the client left base_url: {r.request.url}",
    )
    return r


# What pulsegate answers beyond terra-python 1.1.0's response models (documented in
# docs/TERRA-COMPATIBILITY.md); anything else unknown fails the suite.
KNOWN_RESPONSE_DIFFERENCES = {
    # The data endpoints' answers carry "status": "success" (and the to_webhook answer
    # the data type as "type"), which ActivityFetchResponseData / DataSentToWebhook do
    # not declare.
    "unknown field activity(inline).status",
    "unknown field activity(to_webhook).status",
    "unknown field activity(to_webhook).type",
}
RESPONSE_DIFFERENCES_SEEN = set()


def is_terra_time(v):
    """Terra's `TerraUser` times: `2024-10-07T03:45:00.000000+00:00`."""
    return isinstance(v, str) and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", v
    ) is not None


def check_answer(path, cls, name):
    r = last_answer(path)
    check(r.status_code == 200, f"{path}: {r.status_code} {r.text}")
    problems = strict_problems(r.json(), cls, name)
    unexpected = [p for p in problems if p not in KNOWN_RESPONSE_DIFFERENCES]
    RESPONSE_DIFFERENCES_SEEN.update(p for p in problems if p in KNOWN_RESPONSE_DIFFERENCES)
    check(not unexpected, f"{path} answer vs {name}: {unexpected}\n{r.text[:2000]}")
    return r.json()


# ---------------------------------------------------------------------------------


def browser():
    """The end user's browser: no automatic redirects, so each hop is checked."""
    return httpx.Client(timeout=30, follow_redirects=False)


def provider_consents(b, authorize_url, code):
    """The user opens pulsegate's start URL (which sets the flow's binding cookie in
    this browser and redirects to the provider), approves at the provider, which sends
    the browser to pulsegate's callback (the authorize URL's redirect_uri) with a code;
    returns where pulsegate sends the browser then."""
    provider = os.environ["PG_PROVIDER_URL"].rstrip("/")
    if authorize_url.startswith(PG_URL + "/v1/auth/"):
        start = b.get(authorize_url)
        check(start.status_code == 302, f"start URL: {start.status_code} {start.text[:300]}")
        check("set-cookie" in start.headers, "the start URL sets no binding cookie")
        authorize_url = start.headers["location"]
    check(
        authorize_url.startswith(provider + "/oauth/authorize?"),
        f"not the provider's authorize page: {authorize_url}",
    )
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize_url).query))
    for k in ("client_id", "redirect_uri", "response_type", "state"):
        check(q.get(k), f"authorize URL without {k}: {authorize_url}")
    check(q["response_type"] == "code", authorize_url)
    check(
        q["redirect_uri"] == PG_URL + "/v1/auth/strava/callback",
        f"redirect_uri {q['redirect_uri']}",
    )
    page = b.get(authorize_url)
    check(page.status_code == 200, f"the provider's authorize page: {page.status_code}")
    back = b.get(
        q["redirect_uri"],
        params={"state": q["state"], "code": code, "scope": "read,activity:read_all"},
    )
    check(back.status_code in (302, 303), f"callback: {back.status_code} {back.text[:500]}")
    return back.headers["location"]


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def summary_ids(activities):
    return [a["metadata"]["summary_id"] for a in activities]


def flow():
    client = make_client()
    b = browser()
    success = "https://app.example/connected"
    failure = "https://app.example/failed"

    # 1. A widget session; its page lists the providers asked for; a provider's link
    #    leads to the provider's authorize page; the user connects.
    ws = client.authentication.generatewidgetsession(
        providers="STRAVA,OURA",
        reference_id=PLAN["widget_reference"],
        auth_success_redirect_url=success,
        auth_failure_redirect_url=failure,
        language="en",
    )
    check_answer(
        "auth/generateWidgetSession",
        AuthenticationGenerateWidgetSessionResponse,
        "generateWidgetSession",
    )
    check(ws.status == "success", f"widget session: {ws}")
    check(ws.session_id and ws.url, f"widget session: {ws}")
    check(ws.url == f"{PG_URL}/widget/{ws.session_id}", f"widget url {ws.url}")
    page = b.get(ws.url)
    check(page.status_code == 200, f"widget page: {page.status_code}")
    links = re.findall(r'href="([^"]+)"', page.text)
    starts = sorted(l for l in links if "/start/" in l)
    check(
        starts
        == sorted(
            f"/widget/{ws.session_id}/start/{p}" for p in ("oura", "strava")
        ),
        f"the widget offers {starts}",
    )
    start = b.get(PG_URL + f"/widget/{ws.session_id}/start/strava")
    check(start.status_code == 302, f"widget start: {start.status_code}")
    authorize = start.headers["location"]
    back = provider_consents(b, authorize, "widget-code")
    check(back.startswith(success + "?"), f"after the widget flow: {back}")
    widget_user = query_of(back)["user_id"]
    check(query_of(back)["reference_id"] == PLAN["widget_reference"], back)
    check(query_of(back)["resource"] == "STRAVA", back)
    auth = wait_for(
        "the widget's auth webhook",
        lambda got: bodies(got, type="auth", user__user_id=widget_user),
    )[0][1]
    check(auth["status"] == "success", auth)
    check(auth["widget_session_id"] == ws.session_id, auth)
    check(auth["reference_id"] == PLAN["widget_reference"], auth)
    log(f"widget: session {ws.session_id} → user {widget_user}")

    # 2. authenticateuser → the provider → pulsegate's callback → `auth` webhook. The
    #    same athlete again: Terra's user_reauth (the widget's user is replaced).
    started = client.authentication.authenticateuser(
        resource="STRAVA",
        reference_id=PLAN["reference"],
        auth_success_redirect_url=success,
        auth_failure_redirect_url=failure,
        language="en",
    )
    check_answer(
        "auth/authenticateUser",
        AuthenticationAuthenticateUserResponse,
        "authenticateUser",
    )
    check(started.status == "success" and started.user_id and started.auth_url, started)
    user_id = started.user_id
    back = provider_consents(b, started.auth_url, "auth-code")
    check(back.startswith(success + "?"), f"after authenticateuser: {back}")
    check(query_of(back)["user_id"] == user_id, back)
    auth = wait_for(
        "the auth webhook",
        lambda got: bodies(got, type="auth", user__user_id=user_id),
    )[0][1]
    check(auth["status"] == "success" and auth["reference_id"] == PLAN["reference"], auth)
    check(auth["user"]["provider"] == "STRAVA", auth)
    # Terra's auth event: its message and version, the connection's creation time, and
    # no webhook update yet (Terra's null; pulsegate leaves it out).
    check(auth.get("message") == "User has successfully authenticated", auth)
    check(auth.get("version") == "2022-03-16", auth)
    check(is_terra_time(auth["user"].get("created_at")), auth)
    check("last_webhook_update" not in auth["user"], auth)
    reauth = wait_for(
        "user_reauth",
        lambda got: bodies(got, type="user_reauth", new_user__user_id=user_id),
    )[0][1]
    check(reauth["old_user"]["user_id"] == widget_user, reauth)
    for u in (reauth["new_user"], reauth["old_user"]):
        check(is_terra_time(u.get("last_webhook_update")), reauth)
        check(is_terra_time(u.get("created_at")), reauth)
    log(f"authenticateuser: user {user_id} (replaces {widget_user})")

    # 3. userInfo, by reference id and by user id.
    users = client.user.getinfoforuserid(reference_id=PLAN["reference"])
    check_answer("userInfo", typing.List[TerraUser], "userInfo(reference_id)")
    check(isinstance(users, list) and len(users) == 1, f"userInfo by reference: {users}")
    check(users[0].user_id == user_id and users[0].provider == "STRAVA", users)
    check(users[0].reference_id == PLAN["reference"], users)
    check(
        last_answer("userInfo").json()[0].get("created_at") == auth["user"]["created_at"],
        f"userInfo's created_at vs the auth webhook's: {last_answer('userInfo').text}",
    )
    one = client.user.getinfoforuserid(user_id=user_id)
    check_answer(
        "userInfo", UserGetInfoForUserIdResponseIsAuthenticated, "userInfo(user_id)"
    )
    check(one.is_authenticated is True and one.user.user_id == user_id, one)
    gone = client.user.getinfoforuserid(reference_id=PLAN["widget_reference"])
    check(gone == [], f"the replaced widget user is still listed: {gone}")

    # 4. Inline: a range whose activities span several of Strava's list pages.
    inline = PLAN["inline"]
    before = strava_calls()
    resp = client.activity.fetch(
        user_id=user_id,
        start_date=inline["start"],
        end_date=inline["end"],
        to_webhook=False,
    )
    answer = check_answer("activity", ActivityFetchResponseData, "activity(inline)")
    after = strava_calls()
    check(resp.type == "activity" and resp.user.user_id == user_id, f"inline: {resp.type}")
    check(all(isinstance(a, Activity) for a in resp.data), "inline data are not Activity")
    got = summary_ids(answer["data"])
    check(len(got) == len(set(got)), f"an activity twice: {sorted(got)}")
    check(
        sorted(got) == sorted(inline["ids"]),
        f"inline: {len(got)} activities, expected {len(inline['ids'])}",
    )
    for i, a in enumerate(answer["data"]):
        problems = strict_problems(a, Activity, f"data[{i}]")
        check(not problems, f"inline activity {i}: {problems}")
    pages = after["list"] - before["list"]
    check(
        pages == inline["list_pages"],
        f"{pages} list pages fetched, expected {inline['list_pages']}",
    )
    check(
        after["detail"] - before["detail"] == len(inline["ids"]),
        f"{after['detail'] - before['detail']} activities fetched",
    )
    log(f"inline: {len(got)} activities from {pages} Strava list pages")

    # 5. to_webhook=True: a reference now, the data at the sink with that reference.
    hook = PLAN["webhook"]
    resp = client.activity.fetch(
        user_id=user_id, start_date=hook["start"], end_date=hook["end"], to_webhook=True
    )
    answer = check_answer("activity", DataSentToWebhook, "activity(to_webhook)")
    reference = answer.get("reference")
    check(reference, f"no reference: {answer}")
    # terra-python resolves every 2xx answer of activity.fetch to its first union
    # member; the reference is still there for the caller.
    check(getattr(resp, "reference", None) == reference, f"client model: {resp}")
    windows = hook["windows"]

    def complete(got):
        mine = [d for d in got if d["headers"].get("terra-reference") == reference]
        data = [json.loads(d["body"]) for d in mine]
        payloads = [b for b in data if b.get("type") == "activity"]
        if len(payloads) < windows:
            return None
        return mine, data, payloads

    mine, data, payloads = wait_for(f"{windows} activity payloads", complete)
    check(len(payloads) == windows, f"{len(payloads)} payloads for {windows} windows")
    ids = [i for p in payloads for i in summary_ids(p["data"])]
    check(len(ids) == len(set(ids)), "an activity delivered twice")
    check(sorted(ids) == sorted(hook["ids"]), f"{len(ids)} of {len(hook['ids'])} activities")
    for p in payloads:
        check(p["user"]["user_id"] == user_id, p["user"])
        # The time this webhook was built (the user's latest webhook update), and when
        # the connection was made.
        check(is_terra_time(p["user"].get("last_webhook_update")), p["user"])
        check(p["user"].get("created_at") == auth["user"]["created_at"], p["user"])
    if windows > PLAN["large_request_windows"]:
        # In the order the sink received them: the announcement before any data.
        kinds = [b["type"] for b in data]
        check(
            kinds.index("large_request_sending") < kinds.index("activity"),
            f"data before its large_request_sending: {kinds}",
        )
        kinds = [b["type"] for b in data]
        check(kinds.count("large_request_processing") == 1, kinds)
        check(kinds.count("large_request_sending") == 1, kinds)
        sending = next(b for b in data if b["type"] == "large_request_sending")
        check(sending["expected_payloads"] == windows, sending)
        check(sending["reference"] == reference, sending)
        processing = next(b for b in data if b["type"] == "large_request_processing")
        check(processing["reference"] == reference, processing)
    # userInfo now knows when a webhook about the user was last delivered.
    client.user.getinfoforuserid(user_id=user_id)
    info = check_answer(
        "userInfo", UserGetInfoForUserIdResponseIsAuthenticated, "userInfo(user_id)"
    )
    check(is_terra_time(info["user"].get("last_webhook_update")), info)
    check(info["user"].get("created_at") == auth["user"]["created_at"], info)
    webhook_ids = [d["headers"]["webhook-id"] for d in mine]
    check(len(webhook_ids) == len(set(webhook_ids)), "a webhook-id delivered twice")
    log(f"to_webhook: reference {reference}, {len(mine)} deliveries, {len(ids)} activities")

    # 5b. end_date is exclusive: [start, end) holds exactly the activities of its days.
    excl = PLAN["exclusive"]
    resp = client.activity.fetch(
        user_id=user_id, start_date=excl["start"], end_date=excl["end"], to_webhook=False
    )
    answer = check_answer("activity", ActivityFetchResponseData, "activity(inline)")
    got = summary_ids(answer["data"])
    check(
        sorted(got) == sorted(excl["ids"]),
        f"[{excl['start']}, {excl['end']}): {sorted(got)}, expected {sorted(excl['ids'])}",
    )
    log(f"end_date exclusive: {len(got)} activities in [{excl['start']}, {excl['end']})")

    # 5c. A data type Strava does not give: Terra's NoDataReturned (200), inline and
    #     to_webhook alike, for every type but activity.
    no_data = "Data type requested not available from provider"
    for kind in ("daily", "sleep", "body", "menstruation", "nutrition"):
        for to_webhook in (False, True):
            resp = getattr(client, kind).fetch(
                user_id=user_id,
                start_date=excl["start"],
                end_date=excl["end"],
                to_webhook=to_webhook,
            )
            answer = check_answer(kind, NoDataReturned, f"{kind}(no data)")
            parsed = parse_obj_as(NoDataReturned, answer)
            check(parsed.message == no_data, f"{kind}: {answer}")
            check(parsed.status == "error", f"{kind}: {answer}")
            check(parsed.user.user_id == user_id, f"{kind}: {answer}")
            # The client resolves a 2xx answer to its union's first member; the
            # NoDataReturned fields are on it all the same.
            check(getattr(resp, "message", None) == no_data, f"{kind} client model: {resp}")
    resp = client.athlete.fetch(user_id=user_id, to_webhook=False)
    check_answer("athlete", AthleteFetchResponse, "athlete(no data)")
    check(isinstance(resp, AthleteFetchResponse_NoData), f"athlete: {resp!r}")
    check(resp.message == no_data and resp.status == "error", f"athlete: {resp!r}")
    log("no data returned: daily, sleep, body, menstruation, nutrition, athlete")

    # 5d. The integrations listings are public (a wrong dev-id and key work) and the
    #     detailed one carries every provider's icon.
    public = make_client(dev_id="nobody", api_key="wrong-key")
    listed = public.integrations.fetch()
    check_answer("integrations", IntegrationsFetchResponse, "integrations")
    check(listed.status == "success" and "STRAVA" in listed.providers, f"{listed}")
    detailed = public.integrations.detailedfetch(sdk=True)
    check_answer("integrations/detailed", IntegrationsResponse, "integrations/detailed")
    check(detailed.status == "success" and detailed.providers, f"{detailed}")
    for p in detailed.providers:
        check(
            isinstance(p.icon, str) and p.icon.startswith("https://"),
            f"no icon for {p.provider}: {p!r}",
        )
        check(isinstance(p.types, IntegrationProviderTypes), f"{p!r}")
    strava = next(p for p in detailed.providers if p.provider == "STRAVA")
    check(strava.types.activity is True and strava.types.daily is False, f"{strava!r}")
    log(f"integrations: public, {len(detailed.providers)} providers with icons")

    # 6. deauthenticateuser → `deauth`; the user is gone.
    out = client.authentication.deauthenticateuser(user_id=user_id)
    check_answer(
        "auth/deauthenticateUser",
        AuthenticationDeauthenticateUserResponse,
        "deauthenticateUser",
    )
    check(out.status == "success", out)
    deauth = wait_for(
        "the deauth webhook",
        lambda got: bodies(got, type="deauth", user__user_id=user_id),
    )
    check(len(deauth) == 1, f"{len(deauth)} deauth webhooks")
    try:
        client.user.getinfoforuserid(user_id=user_id)
        fail("userInfo still knows the deauthenticated user")
    except NotFoundError:
        pass

    summary = check_all_webhooks()
    summary["api_calls"] = len(API_ANSWERS)
    summary["response_differences"] = sorted(RESPONSE_DIFFERENCES_SEEN)
    log("SUMMARY " + json.dumps(summary, sort_keys=True))


def request():
    client = make_client()
    resp = client.activity.fetch(
        user_id=PLAN["user_id"],
        start_date=PLAN["start"],
        end_date=PLAN["end"],
        to_webhook=True,
    )
    answer = check_answer("activity", DataSentToWebhook, "activity(to_webhook)")
    check(getattr(resp, "reference", None) == answer["reference"], resp)
    log("RESULT " + json.dumps({"reference": answer["reference"]}))


def webhooks():
    log("SUMMARY " + json.dumps(check_all_webhooks(), sort_keys=True))


def writes():
    """Writes through the client (PG_PLAN: strava_user, fitbit_user): an activity to
    Strava, a weight + body fat measurement to Fitbit and its deletion, each answer
    strictly in the client's response model; then a write Strava cannot do (501).
    Prints RESULT with the ids; the Rust test checks what the mock providers got."""
    from terra.activity.types.activity_write_response import ActivityWriteResponse
    from terra.body.types.body_delete_response import BodyDeleteResponse
    from terra.body.types.body_write_response import BodyWriteResponse
    from terra.core.api_error import ApiError
    from terra.types.activity_metadata import ActivityMetadata
    from terra.types.body import Body
    from terra.types.body_metadata import BodyMetadata
    from terra.types.distance_data import DistanceData
    from terra.types.distance_data_summary import DistanceDataSummary
    from terra.types.measurement_data_sample import MeasurementDataSample
    from terra.types.measurements_data import MeasurementsData

    client = make_client()

    def as_user(user):
        # terra-python 1.1.0's `write` sends no user_id of its own.
        return {"additional_query_parameters": {"user_id": user}}

    run = Activity(
        metadata=ActivityMetadata(
            summary_id="client-run-1",
            name="Lunch run",
            type=8,
            upload_type=2,
            start_time="2026-03-01T12:05:00+01:00",
            end_time="2026-03-01T12:50:30+01:00",
        ),
        distance_data=DistanceData(summary=DistanceDataSummary(distance_meters=8200)),
    )
    written = client.activity.write(data=[run], request_options=as_user(PLAN["strava_user"]))
    answer = check_answer("activity", ActivityWriteResponse, "activity(write)")
    check(written.log_ids == answer["log_ids"] and len(written.log_ids) == 1, answer)
    check(written.user.user_id == PLAN["strava_user"] and written.user.provider == "STRAVA", answer)

    weighed = Body(
        metadata=BodyMetadata(
            start_time="2026-03-01T00:00:00+01:00", end_time="2026-03-02T00:00:00+01:00"
        ),
        measurements_data=MeasurementsData(
            measurements=[
                MeasurementDataSample(
                    measurement_time="2026-03-01T07:58:14+01:00",
                    weight_kg=72.5,
                    bodyfat_percentage=14.5,
                )
            ]
        ),
    )
    body = client.body.write(data=[weighed], request_options=as_user(PLAN["fitbit_user"]))
    check_answer("body", BodyWriteResponse, "body(write)")
    check(body.user.provider == "FITBIT" and len(body.log_ids) == 1, body)
    deleted = client.body.delete(user_id=PLAN["fitbit_user"], log_ids=body.log_ids)
    check_answer("body", BodyDeleteResponse, "body(delete)")
    got = [(d.id, d.response_code) for d in deleted.processed_data]
    check(got == [(body.log_ids[0], 204)], f"body delete: {got}")

    try:
        client.body.write(data=[weighed], request_options=as_user(PLAN["strava_user"]))
        fail("a body write for a Strava user succeeded")
    except ApiError as e:
        check(e.status_code == 501, f"{e.status_code}: {e.body}")
        check("STRAVA" in e.body["message"], e.body)
    log(
        "RESULT "
        + json.dumps({"activity_log_ids": written.log_ids, "body_log_ids": body.log_ids})
    )


if __name__ == "__main__":
    from importlib.metadata import version

    installed = version("terra-python")
    check(installed == "1.1.0", f"terra-python {installed} installed; the contract is 1.1.0")
    log(f"terra-python {installed} from {os.path.dirname(terra.__file__)}")
    {"flow": flow, "request": request, "webhooks": webhooks, "writes": writes}[
        sys.argv[1]
    ]()
