"""The supplier API: factory records for the catalog partner rows resolve against."""

from __future__ import annotations

from partner_api.auth.principals import require_principal
from partner_api.blueprint import ApiBlueprint
from partner_api.request_context import current_request_id, request_session
from partner_api.supplier.schemas import (
    CatalogCreateSchema,
    CatalogFormSchema,
    CatalogResultSchema,
)
from tenants.ingest import catalog

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
    """Add factory records, or replace your own, as JSON or as CSV files.

    Each record needs the manufacturer, model and serial number, or a
    hardware hash that contains them; the product key ID is optional. A
    record belongs to the supplier that created it: your record for a device
    already in your catalog replaces it, but a device another supplier's
    record describes is rejected and that record stays as it is. Rejected
    rows are listed in ``rejections`` with their file, line and reason; the
    others are stored.
    """
    session = request_session()
    result = catalog.store_records(
        session, require_principal().own_id(), body["rows"], request_id=current_request_id()
    )
    session.commit()
    return result
