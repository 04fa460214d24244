"""A pool mixing SMTP relays with SES and Mailgun: even rotation, and a log that names both
the server and the vendor's message id for every message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.store.tables import Message, SendingServer
from tests.support.cli_env import CliEnv
from tests.support.fakes.mailgun import MailgunFake
from tests.support.fakes.moto_ses import MotoSes
from tests.support.scenario import apply, make_campaign, send_until_settled, smtp_server
from tests.support.settings import make_settings
from tests.support.sinks import StartSinks

pytest_plugins = ["tests.support.fakes.fixtures"]

KEY_ID, SECRET = "AKIAFAKEMIXED000TEST", "mixed-pool-secret"


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime.open(make_settings(tmp_path))
    yield runtime
    runtime.close()


@pytest.mark.slow
async def test_2000_messages_rotate_evenly_over_smtp_ses_and_mailgun(
    rt: Runtime, sinks: StartSinks, moto_ses: MotoSes, mailgun_fake: MailgunFake
) -> None:
    admin = boto3.client(
        "sesv2",
        region_name="eu-west-1",
        endpoint_url=moto_ses.url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    admin.create_email_identity(EmailIdentity="example.com")
    admin.close()
    a, b = await sinks(2)
    servers = [
        smtp_server("relay-a", a.port),
        smtp_server("relay-b", b.port),
        {
            "name": "ses-eu",
            "type": "ses",
            "region": "eu-west-1",
            "endpoint_url": moto_ses.url,
            "access_key_id": KEY_ID,
            "secret_access_key_env": "SES_SECRET",
            "sending_limit": 100_000,
        },
        {
            "name": "mailgun",
            "type": "mailgun",
            "domain": mailgun_fake.domain,
            "base_url": mailgun_fake.url,
            "api_key_env": "MAILGUN_KEY",
            "sending_limit": 100_000,
        },
    ]
    apply(
        rt,
        {
            "servers": servers,
            "plans": [{"name": "Mixed", "servers": [s["name"] for s in servers]}],
            "customers": [{"name": "acme", "plan": "Mixed", "sending_domains": ["example.com"]}],
        },
        {"SES_SECRET": SECRET, "MAILGUN_KEY": mailgun_fake.api_key},
    )
    _, uid = make_campaign(rt, 2000)
    result = await send_until_settled(rt, uid, [rt.worker(health_checks=False)], timeout=300)

    assert result.by_status == {"sent": 2000}
    assert result.by_server == {"relay-a": 500, "relay-b": 500, "ses-eu": 500, "mailgun": 500}
    assert (a.count, b.count, len(mailgun_fake.accepted)) == (500, 500, 500)
    log = rt.db.transaction(
        lambda c: c.execute(
            select(SendingServer.name, Message.remote_id, Message.recipient).join(
                SendingServer, SendingServer.id == Message.server_id
            )
        ).all()
    )
    assert all(remote for _, remote, _ in log), "every message keeps its vendor message id"
    mailgun_ids = {remote for name, remote, _ in log if name == "mailgun"}
    assert len(mailgun_ids) == 500 and all(
        i.endswith("@" + mailgun_fake.domain) for i in mailgun_ids
    )
    assert len({remote for name, remote, _ in log if name == "ses-eu"}) == 500
    by_recipient = Counter(r for _, _, r in log)
    assert len(by_recipient) == 2000 and set(by_recipient.values()) == {1}


def test_servers_test_sends_through_a_vendor_and_prints_its_message_id(
    tmp_path: Path, cli: CliEnv, mailgun_fake: MailgunFake
) -> None:
    cli.setenv("MAILGUN_KEY", mailgun_fake.api_key)
    pool = tmp_path / "pool.toml"
    pool.write_text(
        f'[[servers]]\nname = "mailgun"\ntype = "mailgun"\ndomain = "{mailgun_fake.domain}"\n'
        f'base_url = "{mailgun_fake.url}"\napi_key_env = "MAILGUN_KEY"\nsending_limit = 10\n'
        'default_from_email = "ops@example.com"\n'
    )
    assert cli.invoke(["pool", "apply", str(pool)]).exit_code == 0
    result = cli.invoke(["servers", "test", "mailgun", "--send-to", "you@example.com"])
    assert result.exit_code == 0, result.output
    assert "test email accepted; message id: 20261127.1@" in result.output.replace("\n", "")
    assert mailgun_fake.accepted[0][0] == "you@example.com"
    # A vendor server's test shows its webhook URL (password masked) and what it lacks.
    assert "webhook: http://127.0.0.1" in result.output and "/mailgun" in result.output
    assert "webhook missing webhook_signing_key" in result.output.replace("\n", " ")
    listing = cli.invoke(["servers", "list"])
    for output in (result.output, listing.output):
        assert mailgun_fake.api_key not in output, "a secret was printed"
    cli.setenv("MAILGUN_KEY", "wrong-key")
    cli.invoke(["pool", "apply", str(pool)])
    refused = cli.invoke(["servers", "test", "mailgun", "--send-to", "you@example.com"])
    assert refused.exit_code == 1 and "401" in refused.output
    assert "wrong-key" not in refused.output
