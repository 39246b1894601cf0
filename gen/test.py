#!/usr/bin/env python3
"""A real open-platform partner client of mgvcore, over TLS with the installed stubs.

It signs in with an app key and secret, writes a deal, creates a conversation
(twice: the second call must return the same id), streams a transcript in
chunks, reads it back and checks that every sentence came back as sent, that
a query marks exactly the sentences containing it, that the conversation is
ready with its metrics, that a conflicting create and an invalid transcript
are refused, that the conversation is listed, and that SearchTranscripts
finds it by a word only its transcript holds once the index has caught up.
Meanwhile it streams the tenant's events (EventService.StreamEvents) and
checks that the conversation's creation and its transcript arrive exactly
once each, with consecutive ids, and that a stream resumed from a cursor
starts right after it; and it subscribes a webhook receiver on a loopback
port, whose delivery of the transcript must verify with
mgv_webhook.verify_signature and show in ListDeliveries. It exits 1 on any
mismatch, 2 on a usage error.

It imports mgv.open.v1 from the installed package (`pip install ./gen`) and
prints where it found it and the grpcio and protobuf it runs on.

    pip install ./gen
    python gen/test.py --addr localhost:2022 --ca ssl/ca.crt \\
        --app-key ak_… --app-secret … [--owner-user-id 42]

Every option also reads an environment variable: MGV_GRPC_ADDR, MGV_CA_FILE,
MGV_APP_KEY, MGV_APP_SECRET, MGV_OWNER_USER_ID, MGV_SENTENCES, MGV_SEARCH_WAIT,
MGV_EVENTS_CURSOR.
Without an owner id, the owner is upserted with OrgService.UpsertUser (the app
needs the org scope as well as ingest).
"""

import argparse
import importlib.util
import json
import os
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata

import grpc
import mgv.open.v1
from google.protobuf import timestamp_pb2
from mgv.open.v1 import auth_pb2, auth_pb2_grpc, common_pb2
from mgv.open.v1 import conversation_pb2 as conv
from mgv.open.v1 import conversation_pb2_grpc as conv_grpc
from mgv.open.v1 import deal_pb2, deal_pb2_grpc, events_pb2, events_pb2_grpc, org_pb2, org_pb2_grpc
from mgv.open.v1 import search_pb2, search_pb2_grpc
from mgv.open.v1 import system_pb2, system_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))


def load_webhook_helper():
    """mgv_webhook from the installed package, else the file beside this script
    (it is plain Python, not generated, so an older install may lack it)."""
    spec = importlib.util.find_spec("mgv_webhook")
    if spec is None:
        spec = importlib.util.spec_from_file_location("mgv_webhook", os.path.join(HERE, "mgv_webhook.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mgv_webhook = load_webhook_helper()

CHUNK = 400

failures = []


def check(ok, what):
    if ok:
        print(f"ok    {what}")
    else:
        print(f"FAIL  {what}")
        failures.append(what)
    return ok


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--addr", default=env("MGV_GRPC_ADDR", "localhost:2022"), help="host:port of the gRPC server")
    p.add_argument("--ca", default=env("MGV_CA_FILE", os.path.join(HERE, "..", "ssl", "ca.crt")),
                   help="CA certificate that signed the server's")
    p.add_argument("--server-name", default=env("MGV_SERVER_NAME", ""),
                   help="name to verify the server certificate against, when not the host of --addr")
    p.add_argument("--app-key", default=env("MGV_APP_KEY", ""))
    p.add_argument("--app-secret", default=env("MGV_APP_SECRET", ""))
    p.add_argument("--owner-user-id", type=int, default=int(env("MGV_OWNER_USER_ID", "0")),
                   help="Megaview id of the rep owning the conversation; 0 upserts one")
    p.add_argument("--sentences", type=int, default=int(env("MGV_SENTENCES", "1200")),
                   help="sentences in the transcript (a 3-hour call has about 5000)")
    p.add_argument("--search-wait", type=float, default=float(env("MGV_SEARCH_WAIT", "5")),
                   help="seconds to wait for the transcript to become searchable")
    p.add_argument("--events-cursor", type=int, default=int(env("MGV_EVENTS_CURSOR", "0")),
                   help="stream the tenant's events after this id (0: from the oldest kept)")
    a = p.parse_args()
    if not a.app_key or not a.app_secret:
        p.error("--app-key and --app-secret (or MGV_APP_KEY, MGV_APP_SECRET) are required")
    if not 1 <= a.sentences <= 20000:
        p.error("--sentences must be 1..20000")
    return a


def channel(args):
    with open(args.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    options = [("grpc.max_receive_message_length", 32 << 20)]
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    return grpc.secure_channel(args.addr, creds, options=options)


def reason_of(err):
    """The ErrorInfo reason in the status details, found without the google.rpc stubs."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return value
    return b""


def transcript(n, word):
    """n sentences; the first one also says word."""
    lines = [
        ("0", "王总您好，我是麦哲伦的小李，今天想跟您聊一下预算的事情。"),
        ("1", "嗯"),
        ("1", "预算今年比较紧张，你们的价格是怎么算的？"),
        ("0", "We price per seat, and larger teams get a discount."),
        ("1", "ok"),
        ("2", "Sorry I'm late, did I miss the pricing part?"),
        ("0", "没关系，我再简单说一下我们的报价方案。"),
        ("1", "How long does the implementation take?"),
    ]
    out, t = [], 0
    for i in range(n):
        speaker, text = lines[i % len(lines)]
        dur = 400 if len(text) < 4 else 1500 + 40 * len(text)
        seq = 2 * i  # gaps in seq are allowed
        text = f"{text} #{i}" if i else f"{text} #{i} {word}"
        out.append(conv.Sentence(seq=seq, speaker_key=speaker, start_ms=t, end_ms=t + dur, text=text))
        t += dur + 300
    return out, t + 5000


def stream(conversation_id, sentences, announce=True):
    header = conv.TranscriptHeader(conversation_id=conversation_id)
    if announce:
        header.expected_sentence_count = len(sentences)
    yield conv.PutTranscriptRequest(header=header)
    for i in range(0, len(sentences), CHUNK):
        yield conv.PutTranscriptRequest(chunk=conv.SentenceChunk(sentences=sentences[i:i + CHUNK]))


def search_transcripts(ch, md, word, cid, owner, wait):
    """SearchTranscripts finds the conversation by word, retried while the index catches up."""
    stub = search_pb2_grpc.SearchServiceStub(ch)
    started = time.monotonic()
    res, last_error = None, None
    while True:
        try:
            res = stub.SearchTranscripts(search_pb2.SearchTranscriptsRequest(query=word), metadata=md, timeout=10)
            if any(r.conversation.id == cid for r in res.results):
                break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            last_error = e  # the engine is catching up or away: retry
        if time.monotonic() - started > wait:
            break
        time.sleep(0.1)
    took = time.monotonic() - started
    hit = next((r for r in res.results if r.conversation.id == cid), None) if res else None
    if not check(hit is not None and res.total >= 1,
                 f"SearchTranscripts query={word!r} finds the conversation ({took:.2f}s)"):
        print(f"      last answer: {res if res is not None else last_error}")
        return
    check(any("<em>" in s.text and word in s.text for s in hit.snippets),
          f"its snippet highlights the word: {hit.snippets[0].text if hit.snippets else None!r}")
    check(any(f.owner_user_id == owner and f.conversations >= 1 for f in res.owner_facets),
          "SearchTranscripts returns the owner facet")


class EventReader:
    """One EventService.StreamEvents call, read by a thread into a queue."""

    def __init__(self, ch, md, cursor, types=()):
        req = events_pb2.StreamEventsRequest(cursor=cursor, types=list(types))
        self.call = events_pb2_grpc.EventServiceStub(ch).StreamEvents(req, metadata=md)
        self.queue = queue.Queue()
        self.error = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for e in self.call:
                self.queue.put(e)
        except grpc.RpcError as e:
            self.error = e
        self.queue.put(None)

    def until(self, pred, timeout):
        """The events received until one satisfies pred (included), or None on timeout or end."""
        got, deadline = [], time.monotonic() + timeout
        while True:
            try:
                e = self.queue.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                return None
            if e is None:
                return None
            got.append(e)
            if pred(e):
                return got

    def close(self):
        self.call.cancel()


def is_event(e, kind, cid):
    return e.type == kind and int(e.data["conversation_id"]) == cid


def check_events(reader, ch, md, cid, origin, sentences, put):
    """The events of this run's conversation, from the stream opened before it was created."""
    seen = reader.until(lambda e: is_event(e, "transcript.ready", cid), 30)
    if not check(seen is not None, f"StreamEvents delivers transcript.ready of conversation {cid}"):
        print(f"      stream error: {reader.error}")
        return
    # Whatever else the stream carries until then: the refused transcript
    # and the repeated create must have written nothing.
    later = reader.until(lambda e: False, 1.5) or []
    reader.close()
    ids = [e.id for e in seen]
    check(all(b == a + 1 for a, b in zip(ids, ids[1:])), f"event ids are consecutive ({ids[0]}..{ids[-1]})")
    created = [e for e in seen + later if is_event(e, "conversation.created", cid)]
    check(len(created) == 1 and created[0].data["origin_conversation_id"] == origin and created[0].id < seen[-1].id,
          "one conversation.created for the conversation, before its transcript")
    ready = [e for e in seen + later if is_event(e, "transcript.ready", cid)]
    r = ready[0]
    check(len(ready) == 1 and int(r.data["sentence_count"]) == len(sentences) and int(r.data["transcript_version"]) == 1
          and r.data["metrics"]["talk_ratio"] == put.metrics.talk_ratio and r.tenant_id > 0,
          "one transcript.ready with the sentence count, version 1 and the stored metrics")
    resumed = EventReader(ch, md, r.id - 1, ["transcript.ready"])
    first = resumed.until(lambda e: True, 10)
    resumed.close()
    check(first is not None and first[0].id == r.id and first[0].data == r.data,
          f"a stream resumed after {r.id - 1} starts with event {r.id}")


class HookReceiver:
    """A webhook receiver on a loopback port (the test configuration allows
    loopback receivers); it keeps every request and answers 204."""

    def __init__(self):
        got = self.got = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got.put((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()


def check_webhook(events, md, created, receiver, cid):
    """The subscription created before the transcript: its delivery is signed and names the conversation."""
    secret, dedup = created.secret, mgv_webhook.Deduplicator()
    deadline, hit = time.monotonic() + 30, None
    while hit is None and time.monotonic() < deadline:
        try:
            headers, body = receiver.got.get(timeout=1)
        except queue.Empty:
            continue
        h = {k.lower(): v for k, v in headers.items()}
        ok = mgv_webhook.verify_signature(secret, h.get("x-mgv-timestamp"), h.get("x-mgv-signature"), body)
        check(ok, f"webhook delivery of event {h.get('x-mgv-event-id')} verifies (verify_signature)")
        data = json.loads(body)
        check(str(data["id"]) == h.get("x-mgv-event-id"), "the event id header names the body's event")
        dedup.seen(mgv_webhook.event_key(body))
        if data["type"] == "transcript.ready" and int(data["data"]["conversation_id"]) == cid:
            hit = (h, body, data)
    receiver.close()
    if not check(hit is not None, f"the webhook receives transcript.ready of conversation {cid}"):
        return
    h, body, data = hit
    check(not mgv_webhook.verify_signature(secret, h["x-mgv-timestamp"], h["x-mgv-signature"], body + b" "),
          "a changed body does not verify")
    check(not mgv_webhook.verify_signature(secret, str(int(h["x-mgv-timestamp"]) - 3600), h["x-mgv-signature"], body),
          "an hour-old timestamp does not verify")
    fresh = mgv_webhook.Deduplicator()
    key = mgv_webhook.event_key(body)
    check(key == (data["tenant_id"], data["id"]), "the event key is the body's tenant and id")
    check(dedup.seen(key) and not fresh.seen(key) and fresh.seen(key),
          "a redelivered event is recognised as a duplicate")
    sub = created.subscription.id
    deadline, log = time.monotonic() + 10, []
    while time.monotonic() < deadline:
        log = events.ListDeliveries(events_pb2.ListDeliveriesRequest(subscription_id=sub), metadata=md, timeout=10).deliveries
        if any(d.event_id == data["id"] and d.status == events_pb2.DELIVERY_STATUS_DELIVERED for d in log):
            break
        time.sleep(0.2)
    check(any(d.event_id == data["id"] and d.status == events_pb2.DELIVERY_STATUS_DELIVERED and d.response_code == 204
              for d in log), "ListDeliveries shows the delivery with its 204")
    events.DeleteSubscription(events_pb2.DeleteSubscriptionRequest(id=sub), metadata=md, timeout=10)
    left = events.ListSubscriptions(events_pb2.ListSubscriptionsRequest(), metadata=md, timeout=10).subscriptions
    check(all(x.id != sub for x in left), "DeleteSubscription removes it")


def installed(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def main():
    args = parse_args()
    print(f"stubs mgv-open-client {installed('mgv-open-client')} at {os.path.dirname(mgv.open.v1.__file__)}"
          f" on grpcio {installed('grpcio')}, protobuf {installed('protobuf')}")
    ch = channel(args)
    grpc.channel_ready_future(ch).result(timeout=10)
    pong = system_pb2_grpc.SystemServiceStub(ch).Ping(system_pb2.PingRequest(), timeout=5)
    check(pong.pong == "pong", "SystemService.Ping over TLS with the dev CA")

    tok = auth_pb2_grpc.AuthServiceStub(ch).CreateAppToken(
        auth_pb2.CreateAppTokenRequest(app_key=args.app_key, app_secret=args.app_secret), timeout=10)
    check(tok.access_token and tok.token_type == "Bearer" and tok.expires_in > 0, "AuthService.CreateAppToken")
    md = [("authorization", f"{tok.token_type} {tok.access_token}")]

    run = uuid.uuid4().hex[:12]
    owner = args.owner_user_id
    if not owner:
        u = org_pb2_grpc.OrgServiceStub(ch).UpsertUser(org_pb2.UpsertUserRequest(
            origin_user_id=f"gen-test-rep-{run}", name="gen/test.py rep"), metadata=md, timeout=10)
        owner = u.user.id
        check(owner > 0, "OrgService.UpsertUser")

    deal = deal_pb2_grpc.DealServiceStub(ch).UpsertDeal(deal_pb2.UpsertDealRequest(
        origin_deal_id=f"gen-test-deal-{run}", name="华信科技 200 席", account_name="华信科技",
        stage="proposal", amount_cents=12_345_67, owner_user_id=owner), metadata=md, timeout=10)
    check(deal.created and deal.deal.id > 0 and deal.deal.owner_user_id == owner, "DealService.UpsertDeal")

    reader = EventReader(ch, md, args.events_cursor)
    receiver = HookReceiver()
    events = events_pb2_grpc.EventServiceStub(ch)
    hook = events.CreateSubscription(events_pb2.CreateSubscriptionRequest(
        url=receiver.url, event_types=["transcript.ready"]), metadata=md, timeout=10)
    check(hook.secret.startswith("whsec_") and hook.subscription.id > 0 and
          hook.subscription.status == events_pb2.SUBSCRIPTION_STATUS_ACTIVE,
          "EventService.CreateSubscription returns the subscription and its secret")

    # A word no other transcript holds: search must find this conversation.
    word = f"mgvword{run}"
    sentences, duration = transcript(args.sentences, word)
    begin = timestamp_pb2.Timestamp()
    begin.FromSeconds(int(time.time()) - 3600)
    stub = conv_grpc.ConversationServiceStub(ch)
    create = conv.CreateConversationRequest(
        origin_conversation_id=f"gen-test-call-{run}",
        owner_user_id=owner,
        origin_deal_id=f"gen-test-deal-{run}",
        title="gen/test.py 预算沟通",
        channel=common_pb2.CHANNEL_CALL,
        direction=common_pb2.DIRECTION_OUTBOUND,
        begin_time=begin,
        duration_ms=duration,
        language="zh-CN",
        participants=[
            conv.ParticipantInput(speaker_key="0", user_id=owner),
            conv.ParticipantInput(speaker_key="1", name="王总", affiliation=common_pb2.AFFILIATION_EXTERNAL),
        ],
    )
    create.custom_data.update({"crm": "gen/test.py", "run": run})
    created = stub.CreateConversation(create, metadata=md, timeout=10)
    check(created.created and created.conversation_id > 0, "CreateConversation creates")
    again = stub.CreateConversation(create, metadata=md, timeout=10)
    check(not again.created and again.conversation_id == created.conversation_id,
          "CreateConversation again returns the same id with created=false")

    conflicting = conv.CreateConversationRequest()
    conflicting.CopyFrom(create)
    conflicting.title = "something else"
    try:
        stub.CreateConversation(conflicting, metadata=md, timeout=10)
        check(False, "a conflicting CreateConversation is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.ALREADY_EXISTS and b"CONVERSATION_CONFLICT" in reason_of(e),
              f"a conflicting CreateConversation is ALREADY_EXISTS/CONVERSATION_CONFLICT ({e.code()})")

    cid = created.conversation_id
    started = time.monotonic()
    put = stub.PutTranscript(stream(cid, sentences), metadata=md, timeout=120)
    took = time.monotonic() - started
    check(put.conversation_id == cid and put.sentence_count == len(sentences),
          f"PutTranscript stored {put.sentence_count} sentences in chunks of {CHUNK} ({took:.2f}s)")
    check(0 < put.metrics.talk_ratio < 1 and put.metrics.question_count_external > 0, "PutTranscript returns metrics")

    got = stub.GetTranscript(conv.GetTranscriptRequest(conversation_id=cid), metadata=md, timeout=30)
    sent = [(s.seq, s.speaker_key, s.start_ms, s.end_ms, s.text) for s in sentences]
    back = [(s.seq, s.speaker_key, s.start_ms, s.end_ms, s.text) for s in got.sentences]
    if not check(back == sent, f"GetTranscript returns the {len(sent)} sentences as sent"):
        for i, (a, b) in enumerate(zip(sent, back)):
            if a != b:
                print(f"      first difference at {i}: sent {a!r}, got {b!r}")
                break
        print(f"      sent {len(sent)}, got {len(back)}")

    check(got.next_page_token == "", "GetTranscript returns an ordinary call whole, in one page")
    paged, page, pages = [], conv.GetTranscriptRequest(conversation_id=cid, page_size=max(1, len(sentences) // 3)), 0
    while True:
        res = stub.GetTranscript(page, metadata=md, timeout=30)
        paged += [(s.seq, s.speaker_key, s.start_ms, s.end_ms, s.text) for s in res.sentences]
        pages += 1
        if not res.next_page_token or pages > 10:
            break
        page.page_token = res.next_page_token
    check(paged == sent and pages >= 3, f"GetTranscript pages of page_size {page.page_size} give the same sentences ({pages} pages)")

    q = "预算"
    marked = stub.GetTranscript(conv.GetTranscriptRequest(conversation_id=cid, q=q), metadata=md, timeout=30)
    want = [q in s.text for s in sentences]
    check([s.matches for s in marked.sentences] == want and any(want), f"GetTranscript q={q!r} marks the matching sentences")
    q = '"PRICE per"'
    marked = stub.GetTranscript(conv.GetTranscriptRequest(conversation_id=cid, q=q), metadata=md, timeout=30)
    want = ["price per" in s.text.lower() for s in sentences]
    check([s.matches for s in marked.sentences] == want and any(want), f"GetTranscript q={q!r} ignores case")

    c = stub.GetConversation(conv.GetConversationRequest(conversation_id=cid), metadata=md, timeout=10)
    check(c.conversation.status == common_pb2.CONVERSATION_STATUS_READY, "the conversation is ready")
    check(c.conversation.deal_id == deal.deal.id and c.conversation.custom_data["run"] == run,
          "the conversation keeps its deal and custom data")
    speakers = {p.speaker_key: p.affiliation for p in c.participants}
    check(speakers == {"0": common_pb2.AFFILIATION_INTERNAL, "1": common_pb2.AFFILIATION_EXTERNAL,
                       "2": common_pb2.AFFILIATION_UNKNOWN},
          "an unknown speaker became an AFFILIATION_UNKNOWN participant")
    check(c.HasField("metrics") and c.metrics.talk_ratio == put.metrics.talk_ratio and c.metrics.algo_version > 0,
          "GetConversation returns the stored metrics")

    bad = [conv.Sentence(seq=0, speaker_key="0", start_ms=0, end_ms=1000, text="fine"),
           conv.Sentence(seq=1, speaker_key="0", start_ms=2000, end_ms=1000, text="ends before it starts")]
    try:
        stub.PutTranscript(stream(cid, bad), metadata=md, timeout=30)
        check(False, "an invalid transcript is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "seq 1" in e.details() and "end_ms" in e.details(),
              f"an invalid transcript is INVALID_ARGUMENT naming the field and the seq ({e.details()})")
    after = stub.GetTranscript(conv.GetTranscriptRequest(conversation_id=cid), metadata=md, timeout=30)
    check(len(after.sentences) == len(sentences), "a refused transcript leaves the stored one in place")

    listed = stub.ListConversations(conv.ListConversationsRequest(
        filter=common_pb2.ConversationFilter(owner_ids=[owner], deal_id=deal.deal.id), page_size=10), metadata=md, timeout=10)
    check([x.id for x in listed.conversations] == [cid] and listed.total == 1, "ListConversations finds it by owner and deal")

    check_events(reader, ch, md, cid, create.origin_conversation_id, sentences, put)
    check_webhook(events, md, hook, receiver, cid)
    search_transcripts(ch, md, word, cid, owner, args.search_wait)

    try:
        stub.GetConversation(conv.GetConversationRequest(conversation_id=cid + 10_000_000), metadata=md, timeout=10)
        check(False, "an unknown conversation is NOT_FOUND")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND and b"CONVERSATION_NOT_FOUND" in reason_of(e),
              "an unknown conversation is NOT_FOUND/CONVERSATION_NOT_FOUND")

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print(f"all checks passed (conversation {cid})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
