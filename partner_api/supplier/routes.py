"""The supplier API: factory records for the catalog partner rows resolve against."""

from __future__ import annotations

from partner_api.auth import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.request_context import current_request_id, request_session
from partner_api.schemas import CatalogCreateSchema, CatalogFormSchema, CatalogResultSchema
from tenants import catalog

blp = ApiBlueprint(
    "supplier",
    __name__,
    url_prefix="/v1/supplier",
    description="For device suppliers (OEMs): the factory records of the devices they build.",
)


@blp.route("/catalog", methods=["POST"])
@blp.auth("supplier", "supplier:write")
@blp.device_body(CatalogCreateSchema, CatalogFormSchema)
@blp.response(200, CatalogResultSchema)
def upload_catalog(body: dict):
    """Add or replace factory records, as JSON or as CSV files.

    Each record needs the manufacturer, model and serial number, or a
    hardware hash that contains them; the product key ID is optional. A
    record for a device already in the catalog replaces it. Rows that cannot
    be records are listed in ``rejections`` with their file and line; the
    others are stored.
    """
    session = request_session()
    result = catalog.store_records(
        session, require_principal().own_id(), body["rows"], request_id=current_request_id()
    )
    session.commit()
    return result
