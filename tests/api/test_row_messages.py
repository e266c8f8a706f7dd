"""A row's message is stored as made (its template and parameters) and read
in the reader's language (SPEC section 12): one order reads in Swedish for
one user and English for another, with the same codes and states, in the
API, in failures.csv and in a dry run."""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy import null, update

from tenants import db
from tenants.ingest.hardware_hash import build_hardware_hash
from tenants.models import Registration
from tenants.scoping import unscoped
from tests.csv_files import CSV_HEADERS, csv_row, encode_csv
from tests.factories import unique
from tests.http import order_path, upload, wait_for_order

FMT = "collection_script"
LANGUAGES = ("en", "sv", "nl")


def _hash(serial: str) -> str:
    return build_hardware_hash("Contoso", "Laptop 7", serial)


def _failing_order() -> bytes:
    """Rows that fail in every way a row can, line by line."""
    first, other = unique("SN"), unique("SN")
    return encode_csv(
        [
            CSV_HEADERS[FMT],
            csv_row(FMT, serial=first, hardware_hash=_hash(first)),  # 2: registered
            csv_row(FMT, serial=first, hardware_hash=_hash(first)),  # 3: duplicate
            csv_row(FMT, serial="S-AT", hardware_hash="@@@@"),  # 4: not base64
            csv_row(FMT, serial="S-SHORT", hardware_hash="T0FBQUFB"),  # 5: too short
            csv_row(FMT, serial="S-CUT", hardware_hash=_hash("S-CUT")[:2000]),  # 6: cut short
            csv_row(FMT, serial="OTHER-SERIAL", hardware_hash=_hash(other)),  # 7: mismatch
            csv_row(FMT, serial="", product_id="9876543210123"),  # 8: not in the catalog
            csv_row(
                FMT, serial=unique("SN"), hardware_hash=_hash(unique("SN")), group_tag="x" * 129
            ),
            csv_row(
                FMT,
                serial=unique("SN"),
                hardware_hash=_hash(unique("SN")),
                group_tag="Sales\x07Team",
            ),  # 10
        ]
    )


def _submit(api, pair, run_worker) -> dict:
    partner, tenant = pair
    response = upload(api, order_path(tenant), partner.token, [("order.csv", _failing_order())])
    return wait_for_order(api, partner.token, response.headers["Location"], run_worker)


def _rows(api, token, order, language) -> dict[int, dict]:
    response = api.get(
        f"/v1/partner/orders/{order['id']}/registrations?page_size=100",
        token=token,
        headers={"Accept-Language": language},
    )
    assert response.headers["Content-Language"] == language
    return {row["line"]: row for row in response.json()}


def test_one_order_reads_in_each_language_with_the_same_codes_and_states(api, pair, run_worker):
    partner, _ = pair
    order = _submit(api, pair, run_worker)
    read = {language: _rows(api, partner.token, order, language) for language in LANGUAGES}

    outcomes = {line: (r["state"], r["error_code"]) for line, r in read["en"].items()}
    assert outcomes == {
        2: ("ready_for_user", None),
        3: ("registration_failed", "duplicate_in_order"),
        4: ("registration_failed", "hardware_hash_invalid"),
        5: ("registration_failed", "hardware_hash_invalid"),
        6: ("registration_failed", "hardware_hash_invalid"),
        7: ("registration_failed", "device_not_found"),
        8: ("registration_failed", "device_not_found"),
        9: ("registration_failed", "group_tag_invalid"),
        10: ("registration_failed", "group_tag_invalid"),
    }
    for language in ("sv", "nl"):
        rows = read[language]
        assert {line: (r["state"], r["error_code"]) for line, r in rows.items()} == outcomes
        for line in outcomes:
            if line != 2:
                assert rows[line]["message"] != read["en"][line]["message"], (language, line)
    en, sv, nl = (read[language] for language in LANGUAGES)

    assert en[3]["message"] == (
        "This device appears more than once in the order; only the first row was processed. "
        "(First seen on order.csv, line 2.)"
    )
    assert sv[3]["message"] == (
        "Den här enheten förekommer mer än en gång i ordern; bara den första raden behandlades. "
        "(Först sedd i order.csv, rad 2.)"
    )
    assert nl[3]["message"] == (
        "Dit apparaat komt meer dan eens voor in de order; alleen de eerste rij is verwerkt. "
        "(Het eerst gezien in order.csv, regel 2.)"
    )
    assert en[4]["message"] == (
        "The hardware hash provided for this device is not formatted correctly: it is not "
        "valid base64: character '@' at position 1 is not allowed. Double-check the hardware "
        "hash and resubmit."
    )
    assert sv[4]["message"] == (
        "Maskinvaruhashen för den här enheten är inte korrekt formaterad: den är inte giltig "
        "base64: tecknet '@' på position 1 är inte tillåtet. Kontrollera maskinvaruhashen och "
        "skicka den igen."
    )
    assert nl[4]["message"] == (
        "De hardwarehash van dit apparaat heeft niet de juiste indeling: deze is geen geldige "
        "base64: het teken '@' op positie 1 is niet toegestaan. Controleer de hardwarehash en "
        "dien deze opnieuw in."
    )
    assert "it has 6 of at least 16,741 bytes" in en[5]["message"]
    assert "den har 6 av minst 16\xa0741 byte" in sv[5]["message"]
    assert "deze heeft 6 van ten minste 16.741 bytes" in nl[5]["message"]
    # Numbers are written the language's way.
    assert "it has 1,500 of 3,000 bytes" in en[6]["message"]
    assert "den har 1\xa0500 av 3\xa0000 byte" in sv[6]["message"]
    assert "deze heeft 1.500 van 3.000 bytes" in nl[6]["message"]
    assert sv[7]["message"].startswith("Vi kunde inte registrera den här enheten")
    assert (
        "(Serienumret på raden (OTHER-SERIAL) stämmer inte med det i maskinvaruhashen"
        in (sv[7]["message"])
    )
    assert "(Het serienummer in de rij (OTHER-SERIAL) komt niet overeen" in nl[7]["message"]
    assert (
        "Ingen leverantör har någon uppgift om produktnyckel-ID 9876543210123."
        in (sv[8]["message"])
    )
    assert (
        "Geen enkele leverancier heeft een gegeven van de product key ID 9876543210123."
        in (nl[8]["message"])
    )
    assert sv[9]["message"] == (
        "Grupptaggen är inte en som den här tjänsten accepterar: den är 129 tecken lång; "
        "högst 128 accepteras."
    )
    assert "'Sales\\x07Team' bevat tekens die geen afdrukbare tekst zijn" in nl[10]["message"]
    for line in (4, 5, 6, 7):
        assert "maskinvaruhash" in sv[line]["message"].lower()
        assert "hardwarehash" in nl[line]["message"].lower()
        assert "hardware hash" not in sv[line]["message"] + nl[line]["message"]


def test_failures_csv_and_the_dry_run_are_in_the_readers_language(api, pair, run_worker):
    partner, tenant = pair
    order = _submit(api, pair, run_worker)
    for language in LANGUAGES:
        rows = _rows(api, partner.token, order, language)
        download = api.get(
            f"/v1/partner/orders/{order['id']}/failures.csv",
            token=partner.token,
            headers={"Accept-Language": language},
        )
        assert download.headers["Content-Language"] == language
        table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert table[0][-2:] == ["Error Code", "Error Message"]  # column names: never translated
        failed = [r for line, r in sorted(rows.items()) if r["error_code"]]
        assert [(r[-2], r[-1]) for r in table[1:]] == [
            (r["error_code"], r["message"]) for r in failed
        ]

        dry_run = upload(
            api,
            order_path(tenant),
            partner.token,
            [("order.csv", _failing_order())],
            params={"dry_run": "true"},
            headers={"Accept-Language": language},
        )
        assert dry_run.status_code == 200, dry_run.text
        verdicts = {v["line"]: v for v in dry_run.json()["rows"]}
        # The same order judged without being stored: the same codes and
        # messages, but other serial numbers (and so another duplicate's line).
        for line in (4, 5, 6, 8, 9):
            assert (verdicts[line]["error_code"], verdicts[line]["message"]) == (
                rows[line]["error_code"],
                rows[line]["message"],
            ), (language, line)
        assert verdicts[3]["message"] == rows[3]["message"]


def test_a_row_stored_before_messages_were_kept_as_made_reads_its_stored_text(
    api, pair, run_worker
):
    partner, tenant = pair
    order = _submit(api, pair, run_worker)
    with unscoped("test stores a row as rows were stored before"), db.transaction() as session:
        # Rows stored before the column was added have SQL NULL in it.
        session.execute(
            update(Registration)
            .where(Registration.order_pk == uuid.UUID(order["id"]), Registration.line == 4)
            .values(message="An old message.", message_params=null())
        )
    for language in LANGUAGES:
        rows = _rows(api, partner.token, order, language)
        assert rows[4]["message"] == "An old message."
        assert rows[4]["error_code"] == "hardware_hash_invalid"
        devices = api.get(
            "/v1/customer/devices?state=registration_failed&page_size=100",
            token=tenant.token,
            headers={"Accept-Language": language},
        ).json()
        by_serial = {d["serial_number"]: d["message"] for d in devices}
        assert by_serial["S-AT"] == "An old message."
        assert by_serial["S-SHORT"] == rows[5]["message"]


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_the_order_rows_and_device_list_files_are_in_the_readers_language(api, pair, run_worker):
    partner, tenant = pair
    order = _submit(api, pair, run_worker)
    for language in LANGUAGES:
        headers = {"Accept-Language": language}
        rows = _rows(api, partner.token, order, language)
        order_rows = _csv(
            api.get(
                f"/v1/partner/orders/{order['id']}/registrations?format=csv",
                token=partner.token,
                headers=headers,
            )
        )
        assert {int(r["Line"]): r["Error Message"] for r in order_rows} == {
            line: r["message"] or "" for line, r in rows.items()
        }
        devices = _csv(
            api.get(
                "/v1/customer/devices?format=csv&state=registration_failed",
                token=tenant.token,
                headers=headers,
            )
        )
        by_serial = {d["Serial Number"]: d["Error Message"] for d in devices}
        assert by_serial["S-AT"] == rows[4]["message"]
        assert by_serial["OTHER-SERIAL"] == rows[7]["message"]
