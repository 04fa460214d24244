"""A customer's suppressions as the admin page shows them: a page of rows, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import Connection

from sendpool.services import refs
from sendpool.services.messages import suppressions
from sendpool.services.messages.suppressions import SuppressionInfo
from sendpool.services.tenancy import customers
from sendpool.services.tenancy.customers import CustomerDetail

PAGE_SIZE = 100
PATH = "/admin/suppressions"


@dataclass(frozen=True, slots=True)
class SuppressionsPage:
    customers: list[CustomerDetail]  # to choose from
    customer: CustomerDetail | None  # None until one is chosen
    rows: list[SuppressionInfo]
    search: str
    page: int
    has_next: bool

    def url(self, page: int | None = None) -> str:
        """This page (or page ``page``) of the same customer and search."""
        name = self.customer.name if self.customer is not None else None
        return page_url(name, self.search, self.page if page is None else page)

    @property
    def first_row(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1


def page_url(customer: str | None, search: str, page: int) -> str:
    query: dict[str, str | int] = {}
    if customer:
        query["customer"] = customer
    if search:
        query["q"] = search
    if page > 1:
        query["page"] = page
    return f"{PATH}?{urlencode(query)}" if query else PATH


def suppressions_page(
    conn: Connection, customer: str | None, *, search: str, page: int
) -> SuppressionsPage:
    """NotFoundError for an unknown customer; the search is a substring of the address."""
    everyone = customers.list_customers(conn)
    if not customer:
        return SuppressionsPage(everyone, None, [], search, page, False)
    found = customers.get_customer(conn, customer)
    rows = suppressions.list_suppressions(
        conn,
        refs.customer_id(conn, found.uid),
        search=search or None,
        limit=PAGE_SIZE + 1,  # one more tells whether a next page exists
        offset=(page - 1) * PAGE_SIZE,
    )
    return SuppressionsPage(everyone, found, rows[:PAGE_SIZE], search, page, len(rows) > PAGE_SIZE)
