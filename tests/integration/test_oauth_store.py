"""The front's DynamoDB store on a moto server over real HTTP on 127.0.0.1, with KMS sealing.

What a user of the front relies on, at the layer that guarantees it:

* expiry: DynamoDB deletes expired items only eventually ("typically within a few days", AWS
  DynamoDB developer guide, "Working with Time to Live (TTL)": items past their TTL "can still
  be retrieved ... until they are deleted"; moto never deletes them), so every kind of item is
  refused by the store itself once its `expires_at` passed. The clock is injected;
* single use: a code or a refresh token redeemed by two requests at once is redeemed once
  (conditional writes: AWS DynamoDB API reference, UpdateItem `ConditionExpression`);
* nothing redeemable or secret in the table: a scan of the raw items holds no code, refresh
  token, upstream state, PKCE verifier, upstream refresh token, client secret or browser value;
* a sealed value copied onto another item does not open (KMS encryption context: AWS KMS
  developer guide, "Encryption context": decryption needs the exact same context).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.oauth.client_metadata import parse_client_metadata
from app.oauth.store import (
    CLIENT_TTL_SECONDS,
    AuthorizationCode,
    CodeRedemption,
    Family,
    FrontStore,
    RateLimited,
    RefreshRedemption,
    RegistrationClosed,
    SealBroken,
    Sealer,
    digest,
    new_secret,
)

REGION = "us-east-1"
NOW = 1_800_000_000.0
REDIRECT = "http://127.0.0.1:33418/callback"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server whose DynamoDB applies each request atomically, as DynamoDB does.

    DynamoDB evaluates a condition and applies the write as one step ("Condition expressions",
    AWS DynamoDB developer guide: a conditional write succeeds only if the condition holds when
    the write is applied). moto 5.2.5 reads, checks and writes without a lock, so two threads can
    interleave INSIDE one of its writes, a gap of the emulator (measured here: about one race in
    ten let two conditional updates through). Serialising each request closes that gap and
    nothing more: a read-then-write in the store is still two requests and still races.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def atomic(method: Callable[..., Any]) -> Callable[..., Any]:
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return locked

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("put_item", "get_item", "update_item", "delete_item"):
            patch.setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def client(endpoint: str, service: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def sealing_key(endpoint: str) -> str:
    key_id: str = client(endpoint, "kms").create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    return key_id


@pytest.fixture
def table(endpoint: str) -> str:
    name = "front-" + new_secret(6).replace("_", "a").replace("-", "b")
    client(endpoint, "dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


StoreFactory = Callable[[], FrontStore]


@pytest.fixture
def make_store(endpoint: str, table: str, sealing_key: str, clock: Clock) -> StoreFactory:
    """A new store with its own boto3 clients (one per thread: boto3 clients are per-thread safe)."""

    def make() -> FrontStore:
        return FrontStore(
            client(endpoint, "dynamodb"), table, Sealer(client(endpoint, "kms"), sealing_key), clock=clock
        )

    return make


@pytest.fixture
def store(make_store: StoreFactory) -> FrontStore:
    return make_store()


def raw_items(endpoint: str, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client(endpoint, "dynamodb").scan(TableName=table, ConsistentRead=True)[
        "Items"
    ]
    return items


def put_login(store: FrontStore, state: str, *, verifier: str = "v" * 64, browser: str = "b" * 43) -> None:
    store.put_login(
        state,
        client_id="cli",
        redirect_uri=REDIRECT,
        client_state="client-state",
        code_challenge="c" * 43,
        scopes=("mcp/access",),
        resource="https://api.example.test/mcp",
        nonce="nonce-1",
        upstream_verifier=verifier,
        browser_hash=digest(browser),
        consented=False,
        ttl_seconds=600,
    )


def put_code(store: FrontStore, code: str, *, upstream_refresh: str | None = "upstream-refresh") -> None:
    store.put_code(
        code,
        client_id="cli",
        redirect_uri=REDIRECT,
        code_challenge="c" * 43,
        scopes=("mcp/access",),
        subject="user-1",
        resource="https://api.example.test/mcp",
        upstream_refresh_token=upstream_refresh,
        ttl_seconds=60,
    )


def new_family(store: FrontStore, *, upstream_refresh: str = "upstream-refresh", ttl: int = 3600) -> str:
    family = new_secret(16)
    store.create_family(
        family,
        subject="user-1",
        client_id="cli",
        scopes=("mcp/access",),
        resource="https://api.example.test/mcp",
        upstream_refresh_token=upstream_refresh,
        ttl_seconds=ttl,
    )
    return family


# --- expiry ------------------------------------------------------------------------------------


def test_a_login_is_gone_once_it_expired(store: FrontStore, clock: Clock) -> None:
    put_login(store, "state-1")
    assert store.get_login("state-1") is not None
    clock.now += 600
    assert store.get_login("state-1") is None
    assert store.mark_consented("state-1") is False
    assert store.take_login("state-1") is None


def test_a_live_login_is_taken_once(store: FrontStore, clock: Clock) -> None:
    put_login(store, "state-2")
    clock.now += 599
    assert store.mark_consented("state-2") is True
    assert store.mark_consented("state-2") is False  # approval is recorded once
    taken = store.take_login("state-2")
    assert taken is not None
    assert taken.consented is True
    assert store.take_login("state-2") is None


def test_an_expired_code_is_unknown_not_redeemable(store: FrontStore, clock: Clock) -> None:
    put_code(store, "code-1")
    clock.now += 60
    assert store.redeem_code("code-1") == CodeRedemption.UNKNOWN
    clock.now -= 1  # an expired redemption did not use it up (nothing was issued)
    assert isinstance(store.redeem_code("code-1"), AuthorizationCode)


def test_an_expired_family_is_gone(store: FrontStore, clock: Clock) -> None:
    family = new_family(store, ttl=3600)
    assert isinstance(store.get_family(family), Family)
    clock.now += 3600
    assert store.get_family(family) is None


def test_an_expired_refresh_token_is_unknown(store: FrontStore, clock: Clock) -> None:
    family = new_family(store)
    store.put_refresh_token("refresh-1", family_id=family, expires_at=int(NOW) + 100)
    clock.now += 100
    assert store.family_of_refresh_token("refresh-1") is None
    assert store.use_refresh_token("refresh-1") == RefreshRedemption.UNKNOWN


def test_a_live_refresh_token_whose_family_expired_gives_nothing(store: FrontStore, clock: Clock) -> None:
    family = new_family(store, ttl=100)
    store.put_refresh_token("refresh-2", family_id=family, expires_at=int(NOW) + 1000)
    clock.now += 100
    assert store.use_refresh_token("refresh-2") == RefreshRedemption.REVOKED


def test_a_registered_client_is_forgotten_after_its_lifetime(store: FrontStore, clock: Clock) -> None:
    metadata = parse_client_metadata({"redirect_uris": [REDIRECT]}, client_id="reg-1", source="registration")
    store.put_client(metadata, None)
    clock.now += CLIENT_TTL_SECONDS - 1
    assert store.get_client("reg-1") is not None  # used: its lifetime starts again
    clock.now += CLIENT_TTL_SECONDS - 1
    assert store.get_client("reg-1") is not None
    clock.now += CLIENT_TTL_SECONDS
    assert store.get_client("reg-1") is None


def test_an_hourly_rate_counter_starts_again_the_next_hour(store: FrontStore, clock: Clock) -> None:
    for _ in range(2):
        store.check_registration_allowed("198.51.100.9", per_ip_per_hour=2, max_clients=100)
    with pytest.raises(RateLimited) as info:
        store.check_registration_allowed("198.51.100.9", per_ip_per_hour=2, max_clients=100)
    assert 0 < info.value.retry_after <= 3600
    clock.now += info.value.retry_after
    store.check_registration_allowed("198.51.100.9", per_ip_per_hour=2, max_clients=100)
    with pytest.raises(RegistrationClosed):
        store.check_registration_allowed("198.51.100.10", per_ip_per_hour=2, max_clients=3)


# --- single use under concurrency ----------------------------------------------------------------


def race(make_store: StoreFactory, attempt: Callable[[FrontStore], object], racers: int = 4) -> list[object]:
    """`racers` threads, each with its own clients, call `attempt` at the same moment."""
    stores = [make_store() for _ in range(racers)]
    barrier = threading.Barrier(racers)

    def run(store: FrontStore) -> object:
        barrier.wait()
        return attempt(store)

    with ThreadPoolExecutor(max_workers=racers) as pool:
        return list(pool.map(run, stores))


def test_a_code_redeemed_by_concurrent_requests_is_redeemed_once(
    store: FrontStore, make_store: StoreFactory
) -> None:
    for round_ in range(5):
        code = f"race-code-{round_}"
        put_code(store, code)
        outcomes = race(make_store, lambda racer, code=code: racer.redeem_code(code))  # type: ignore[misc]
        winners = [outcome for outcome in outcomes if isinstance(outcome, AuthorizationCode)]
        assert len(winners) == 1
        assert sorted(o for o in outcomes if isinstance(o, str)) == [CodeRedemption.REPLAYED] * 3
        # The replays revoked the family the winner was about to create: its tokens never exist.
        with pytest.raises(store.conditional_failure):
            store.create_family(
                winners[0].family,
                subject="user-1",
                client_id="cli",
                scopes=("mcp/access",),
                resource="https://api.example.test/mcp",
                upstream_refresh_token=None,
                ttl_seconds=3600,
            )


def test_a_refresh_token_used_by_concurrent_requests_is_used_once(
    store: FrontStore, make_store: StoreFactory
) -> None:
    for round_ in range(5):
        family = new_family(store)
        token = f"race-refresh-{round_}"
        store.put_refresh_token(token, family_id=family, expires_at=int(NOW) + 3600)
        outcomes = race(make_store, lambda racer, token=token: racer.use_refresh_token(token))  # type: ignore[misc]
        assert sum(isinstance(outcome, Family) for outcome in outcomes) <= 1
        assert outcomes.count(RefreshRedemption.REUSED) == 3
        revoked = store.get_family(family)
        assert revoked is not None
        assert revoked.revoked  # reuse revoked the family: nothing more is issued from it


def test_consent_is_recorded_once_under_concurrency(store: FrontStore, make_store: StoreFactory) -> None:
    put_login(store, "state-race")
    outcomes = race(make_store, lambda racer: racer.mark_consented("state-race"))
    assert outcomes.count(True) == 1
    taken = race(make_store, lambda racer: racer.take_login("state-race"))
    assert sum(login is not None for login in taken) == 1


# --- nothing secret in the table -----------------------------------------------------------------


def test_no_credential_or_secret_is_stored_in_plaintext(store: FrontStore, endpoint: str, table: str) -> None:
    upstream_state, verifier, browser = new_secret(32), new_secret(48), new_secret(32)
    code, upstream_refresh, refresh = new_secret(32), new_secret(40), new_secret(32)
    client_secret = new_secret(32)
    put_login(store, upstream_state, verifier=verifier, browser=browser)
    put_code(store, code, upstream_refresh=upstream_refresh)
    family = new_family(store, upstream_refresh=upstream_refresh)
    store.put_refresh_token(refresh, family_id=family, expires_at=int(NOW) + 3600)
    store.update_family_upstream(family, upstream_refresh + "-rotated")
    metadata = parse_client_metadata(
        {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic"},
        client_id="reg-2",
        source="registration",
    )
    store.put_client(metadata, digest(client_secret))

    items = raw_items(endpoint, table)
    assert len(items) == 5
    blobs = [json.dumps(items, default=lambda value: value.hex()).encode()]
    blobs += [bytes(value["B"]) for item in items for value in item.values() if "B" in value]
    secrets_ = (upstream_state, verifier, browser, code, upstream_refresh, refresh, client_secret)
    for blob in blobs:
        for secret in secrets_:
            assert secret.encode() not in blob
    # ... and yet what must be used again opens, for the item it was sealed for.
    login = store.get_login(upstream_state)
    assert login is not None
    assert login.upstream_verifier == verifier
    opened = store.get_family(family)
    assert opened is not None
    assert opened.upstream_refresh_token == upstream_refresh + "-rotated"


def test_a_sealed_value_copied_onto_another_item_does_not_open(
    store: FrontStore, endpoint: str, table: str
) -> None:
    put_login(store, "victim-state", verifier="victim-verifier-" + "v" * 40)
    put_login(store, "attacker-state")
    dynamodb = client(endpoint, "dynamodb")
    victim = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"login#{digest('victim-state')}"}})["Item"]
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"login#{digest('attacker-state')}"}},
        UpdateExpression="SET verifier = :v",
        ExpressionAttributeValues={":v": victim["verifier"]},
    )
    with pytest.raises(SealBroken) as info:
        store.get_login("attacker-state")
    assert "victim" not in str(info.value)
    assert store.get_login("victim-state") is not None


def test_a_sealed_value_moved_to_another_field_does_not_open(
    store: FrontStore, endpoint: str, table: str
) -> None:
    """A code's sealed upstream refresh token moved onto its family: same item kind rule, other item."""
    put_code(store, "code-move", upstream_refresh="upstream-refresh-move")
    family = new_family(store)
    dynamodb = client(endpoint, "dynamodb")
    sealed = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"code#{digest('code-move')}"}})["Item"][
        "upstream_refresh"
    ]
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"family#{family}"}},
        UpdateExpression="SET upstream_refresh = :v",
        ExpressionAttributeValues={":v": sealed},
    )
    with pytest.raises(SealBroken):
        store.get_family(family)
