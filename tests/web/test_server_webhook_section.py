"""A vendor server's page gives the webhook URL to paste, and says what arrived or was refused."""

from __future__ import annotations

from sendpool.services.webhooks import secret
from tests.support.admin_world import Web


async def test_a_vendor_server_page_shows_its_webhook_url_and_last_refusal(admin: Web) -> None:
    uid = admin.ids["server_postmark"]
    password = secret.password(admin.rt.box, uid)
    refused = await admin.client.post(
        f"/api/v1/webhooks/{uid}/postmark",
        content=b'{"RecordType": "Bounce"}',
        headers={"content-type": "application/json"},
    )
    assert refused.status_code == 401
    page = (await admin.client.get(f"/admin/servers/{uid}")).text
    assert 'data-test="webhook"' in page
    shown = page.split('data-test="webhook-url">', 1)[1].split("<", 1)[0]
    assert shown.endswith(f"/api/v1/webhooks/{uid}/postmark") and "sendpool:…@" in shown
    assert password not in shown
    reveal = page.split('data-test="webhook-reveal"', 1)[1].split("</details>", 1)[0]
    assert f"sendpool:{password}@" in reveal
    assert "Nothing received yet." in page
    assert 'data-test="webhook-refused"' in page and "401 Postmark signs nothing" in page


async def test_a_vendor_server_page_names_what_it_lacks(admin: Web) -> None:
    page = (await admin.client.get(f"/admin/servers/{admin.ids['server_ses']}")).text
    assert 'data-test="webhook-missing"' in page and "sns_topic_arns" in page


async def test_an_smtp_relay_page_has_no_webhook_section(admin: Web) -> None:
    page = (await admin.client.get(f"/admin/servers/{admin.ids['server_smtp']}")).text
    assert 'data-test="webhook"' not in page
