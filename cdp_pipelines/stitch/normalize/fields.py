"""Emails, phones, addresses, postal codes, birthdates, gender and loyalty ids."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, NamedTuple

from cdp_pipelines.stitch.normalize.cells import REPEATED_CHAR_RE, ascii_text, cell_text

# ---------------------------------------------------------------------------------------------
# emails
# The regexes below are written in the common subset of Python `re` and Java regex, because
# `preprocess` runs the same patterns through Spark's rlike.

EMAIL_STRIP_RE = r"^[ \t\r\n<>\"']+|[ \t\r\n<>\"']+$"
EMAIL_SHAPE_RE = r"^[a-z0-9_%+'-]+(\.[a-z0-9_%+'-]+)*@([a-z0-9-]+\.)+[a-z]{2,}$"
EMAIL_JUNK_RES = (
    # placeholder mailboxes
    r"^(test|testing|tester|noemail|no-email|no_email|nomail|none|no|na|n-a|null|nil|nobody"
    r"|noreply|no-reply|donotreply|do-not-reply|dontemail|unknown|email|asdf|qwerty|sample|fake"
    r"|invalid|dummy|declined|refused|optout|opt-out|anonymous|x)@",
    # reserved and placeholder domains
    r"@(example\.(com|org|net)|test\.com|testing\.com|fake\.com|asdf\.com|invalid\.com|no\.com"
    r"|na\.com|(noemail|nomail|none)\.[a-z.]+|[a-z0-9.-]*\.(invalid|test|example|local|localhost))$",
    # keyboard mash: one repeated character as the mailbox or the domain name (aaa@, @xxx.com)
    r"^([a-z0-9])\1{2,}@",
    r"@([a-z0-9])\1{2,}\.[a-z]+$",
)
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def normalize_email(value: Any) -> str | None:
    """' John.Smith@Example.org ' -> 'john.smith@example.org'; junk and bad shape -> None."""
    text = cell_text(value)
    if text is None:
        return None
    email = re.sub(EMAIL_STRIP_RE, "", text).lower()
    if email.startswith("mailto:"):
        email = email[len("mailto:"):]
    if not re.search(EMAIL_SHAPE_RE, email) or any(re.search(p, email) for p in EMAIL_JUNK_RES):
        return None
    return email


def canonical_email(value: Any) -> str | None:
    """Matching key: '+tag' dropped for every domain, Gmail dots dropped, googlemail -> gmail."""
    email = normalize_email(value)
    if email is None:
        return None
    local, _, domain = email.rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local = local.replace(".", "")
        domain = "gmail.com"
    return f"{local}@{domain}" if local else None


# ---------------------------------------------------------------------------------------------
# phones

JUNK_NATIONAL_NUMBERS = frozenset({"1234567890", "0123456789", "9876543210", "123456789"})


class Phone(NamedTuple):
    e164: str | None
    last10: str | None


_NANP_REGIONS = frozenset({"US", "CA"})
_NANP_SHAPE_RE = r"^\+?[\d\s().-]+$"


def _phone_result(national: str, e164_digits: str) -> Phone:
    if national in JUNK_NATIONAL_NUMBERS or len(set(national)) == 1:
        return Phone(None, None)
    return Phone("+" + e164_digits, e164_digits[-10:])


def _nanp_national(text: str) -> str | None:
    """The 10-digit national number of a plain North American number, else None.

    The common case ('(212) 555-0123', '1-212-555-0123', '+1 212 555 0123') needs no parser;
    anything else (extensions, letters, other country codes) goes to phonenumbers.
    """
    if not re.match(_NANP_SHAPE_RE, text) or ("+" in text and not text.startswith("+1")):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits if len(digits) == 10 and digits[0] in "23456789" else None


def parse_phone(text: str, region: str) -> Phone:
    """The phonenumbers path of normalize_phone (region: a supported ISO region code)."""
    import phonenumbers

    digits = re.sub(r"\D", "", text)
    # '0012125550123' style international prefixes parse as national numbers otherwise
    if text.startswith("00") and len(digits) > 11:
        text = "+" + digits[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return Phone(None, None)
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return Phone(None, None)
    national = phonenumbers.national_significant_number(number)
    return _phone_result(national, f"{number.country_code}{national}")


def normalize_phone(value: Any, region: str | None = "US") -> Phone:
    """'(212) 555-0123 x45' -> Phone('+12125550123', '2125550123'); junk -> Phone(None, None).

    A number must be possible (right length) for its country; numbers that are only dialable
    locally (7-digit US) and placeholders (0000000000, 1234567890, one repeated digit) are junk.
    Validity against the numbering plan is not required: test and synthetic data often use
    unassigned area codes that still identify a person.
    """
    import phonenumbers

    text = cell_text(value)
    if text is None or not re.search(r"\d", text):
        return Phone(None, None)
    region = (region or "US").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        region = "US"
    national = _nanp_national(text) if region in _NANP_REGIONS else None
    if national is not None:
        return _phone_result(national, "1" + national)
    return parse_phone(text, region)


# ---------------------------------------------------------------------------------------------
# addresses

# USPS Publication 28, appendix C1: every street suffix and its common variants, by the
# standard abbreviation. Read only in the suffix's place (the street line's last word before
# a unit or a trailing direction), where 'WY' can only be WAY; elsewhere in the line these
# words are names (PINE ST, UNION AVE) and stay as written.
_USPS_SUFFIXES = {
    "ALY": "ALLEE ALLEY ALLY", "ANX": "ANEX ANNEX ANNX", "ARC": "ARCADE", "AVE": "AV AVEN "
    "AVENU AVENUE AVN AVNUE", "BYU": "BAYOO BAYOU", "BCH": "BEACH", "BND": "BEND",
    "BLF": "BLUF BLUFF", "BLFS": "BLUFFS", "BTM": "BOT BOTTM BOTTOM", "BLVD": "BOUL "
    "BOULEVARD BOULV BLV", "BR": "BRNCH BRANCH", "BRG": "BRDGE BRIDGE", "BRK": "BROOK",
    "BRKS": "BROOKS", "BYP": "BYPA BYPAS BYPASS BYPS", "CP": "CAMP CMP", "CYN": "CANYN "
    "CANYON CNYN", "CPE": "CAPE", "CSWY": "CAUSEWAY CAUSWA", "CTR": "CEN CENT CENTER CENTR "
    "CENTRE CNTER CNTR", "CTRS": "CENTERS", "CIR": "CIRC CIRCL CIRCLE CRCL CRCLE",
    "CIRS": "CIRCLES", "CLF": "CLIFF", "CLFS": "CLIFFS", "CLB": "CLUB", "CMN": "COMMON",
    "CMNS": "COMMONS", "COR": "CORNER", "CORS": "CORNERS", "CRSE": "COURSE", "CT": "COURT "
    "CRT", "CTS": "COURTS", "CV": "COVE", "CVS": "COVES", "CRK": "CREEK", "CRES": "CRESCENT "
    "CRSENT CRSNT", "CRST": "CREST", "XING": "CROSSING CRSSNG", "XRD": "CROSSROAD",
    "XRDS": "CROSSROADS", "CURV": "CURVE", "DL": "DALE", "DM": "DAM", "DV": "DIV DIVIDE DVD",
    "DR": "DRIV DRIVE DRV", "DRS": "DRIVES", "EST": "ESTATE", "ESTS": "ESTATES",
    "EXPY": "EXP EXPR EXPRESS EXPRESSWAY EXPW", "EXT": "EXTENSION EXTN EXTNSN",
    "EXTS": "EXTENSIONS", "FLS": "FALLS", "FRY": "FERRY FRRY", "FLD": "FIELD",
    "FLDS": "FIELDS", "FLT": "FLAT", "FLTS": "FLATS", "FRD": "FORD", "FRDS": "FORDS",
    "FRST": "FOREST FORESTS", "FRG": "FORG FORGE", "FRGS": "FORGES", "FRK": "FORK",
    "FRKS": "FORKS", "FT": "FORT FRT", "FWY": "FREEWAY FREEWY FRWAY FRWY", "GDN": "GARDEN "
    "GARDN GRDEN GRDN", "GDNS": "GARDENS GRDNS", "GTWY": "GATEWAY GATEWY GATWAY GTWAY",
    "GLN": "GLEN", "GLNS": "GLENS", "GRN": "GREEN", "GRNS": "GREENS", "GRV": "GROV GROVE",
    "GRVS": "GROVES", "HBR": "HARB HARBOR HARBR HRBOR", "HBRS": "HARBORS", "HVN": "HAVEN",
    "HTS": "HEIGHTS HT", "HWY": "HIGHWAY HIGHWY HIWAY HIWY HWAY", "HL": "HILL",
    "HLS": "HILLS", "HOLW": "HLLW HOLLOW HOLLOWS HOLWS", "INLT": "INLET", "IS": "ISLAND "
    "ISLND", "ISS": "ISLANDS ISLNDS", "ISLE": "ISLES", "JCT": "JCTION JCTN JUNCTION JUNCTN "
    "JUNCTON", "JCTS": "JUNCTIONS", "KY": "KEY", "KYS": "KEYS", "KNL": "KNOL KNOLL",
    "KNLS": "KNOLLS", "LK": "LAKE", "LKS": "LAKES", "LNDG": "LANDING LNDNG", "LN": "LANE",
    "LGT": "LIGHT", "LGTS": "LIGHTS", "LF": "LOAF", "LCK": "LOCK", "LCKS": "LOCKS",
    "LDG": "LDGE LODG LODGE", "LOOP": "LOOPS", "MNR": "MANOR", "MNRS": "MANORS",
    "MDW": "MEADOW", "MDWS": "MEADOWS MEDOWS", "ML": "MILL", "MLS": "MILLS",
    "MSN": "MISSION MISSN MSSN", "MTWY": "MOTORWAY", "MT": "MNT MOUNT", "MTN": "MNTAIN MNTN "
    "MOUNTAIN MOUNTIN MTIN", "MTNS": "MOUNTAINS", "NCK": "NECK", "ORCH": "ORCHARD ORCHRD",
    "OVAL": "OVL", "OPAS": "OVERPASS", "PARK": "PRK PARKS", "PKWY": "PARKWAY PARKWAYS "
    "PARKWY PKWAY PKY PKWYS", "PSGE": "PASSAGE", "PNE": "PINE", "PNES": "PINES",
    "PL": "PLACE", "PLN": "PLAIN", "PLNS": "PLAINS", "PLZ": "PLAZA PLZA", "PT": "POINT",
    "PTS": "POINTS", "PRT": "PORT", "PRTS": "PORTS", "PR": "PRAIRIE PRR", "RADL": "RAD "
    "RADIAL RADIEL", "RNCH": "RANCH RANCHES RNCHS", "RPD": "RAPID", "RPDS": "RAPIDS",
    "RST": "REST", "RDG": "RDGE RIDGE", "RDGS": "RIDGES", "RIV": "RIVER RIVR RVR",
    "RD": "ROAD", "RDS": "ROADS", "RTE": "ROUTE", "SHL": "SHOAL", "SHLS": "SHOALS",
    "SHR": "SHOAR SHORE", "SHRS": "SHOARS SHORES", "SKWY": "SKYWAY", "SPG": "SPNG SPRING "
    "SPRNG", "SPGS": "SPNGS SPRINGS SPRNGS", "SQ": "SQR SQRE SQU SQUARE", "SQS": "SQRS "
    "SQUARES", "STA": "STATION STATN STN", "STRA": "STRAV STRAVEN STRAVENUE STRAVN STRVN "
    "STRVNUE", "STRM": "STREAM STREME", "ST": "STREET STRT STR", "STS": "STREETS",
    "SMT": "SUMIT SUMITT SUMMIT", "TER": "TERR TERRACE", "TRWY": "THROUGHWAY",
    "TRCE": "TRACE TRACES", "TRAK": "TRACK TRACKS TRK TRKS", "TRFY": "TRAFFICWAY",
    "TRL": "TRAIL TRAILS TRLS", "TUNL": "TUNEL TUNLS TUNNEL TUNNELS TUNNL", "TPKE": "TRNPK "
    "TURNPIKE TURNPK", "UPAS": "UNDERPASS", "UN": "UNION", "UNS": "UNIONS", "VLY": "VALLEY "
    "VALLY VLLY", "VLYS": "VALLEYS", "VIA": "VDCT VIADCT VIADUCT", "VW": "VIEW",
    "VWS": "VIEWS", "VLG": "VILL VILLAG VILLAGE VILLG VILLIAGE", "VLGS": "VILLAGES",
    "VL": "VILLE", "VIS": "VIST VISTA VST VSTA", "WALK": "WALKS", "WAY": "WY", "WL": "WELL",
    "WLS": "WELLS", "WAYS": "", "FALL": "", "LAND": "", "MALL": "", "MEWS": "", "PASS": "",
    "PATH": "", "PIKE": "", "RAMP": "", "ROW": "", "RUE": "", "RUN": "", "SPUR": "",
    "WALL": "",
}
SUFFIX_VARIANTS = {variant: standard for standard, variants in _USPS_SUFFIXES.items()
                   for variant in variants.split()}
SUFFIX_ABBREVIATIONS = frozenset(_USPS_SUFFIXES)
# The suffix words abbreviated anywhere in the street line (ADDRESS_WORDS), with their USPS
# abbreviation from the table above.
STREET_SUFFIXES = {word: SUFFIX_VARIANTS[word] for word in (
    "ALLEY ALLY AVENUE AV AVEN AVNUE BOULEVARD BOULV BOUL BLV CENTER CENTRE CIRCLE CIRC "
    "COURT CRT COVE CREEK CRESCENT CROSSING DRIVE DRV ESTATES EXPRESSWAY EXTENSION FREEWAY "
    "GARDENS GROVE HARBOR HEIGHTS HIGHWAY HIGHWY HILL HOLLOW ISLAND JUNCTION LAKE LANE "
    "MANOR MEADOWS MOUNT MOUNTAIN PARKWAY PKY PLACE PLAZA POINT RIDGE ROAD ROUTE SPRINGS "
    "SQUARE STATION STREET STR STRT TERRACE TRAIL TURNPIKE VALLEY VIEW VILLAGE VILLAGES "
    "FORT"
).split()}
DIRECTIONS = {
    "NORTH": "N", "SOUTH": "S", "EAST": "E", "WEST": "W", "NORTHEAST": "NE", "NORTHWEST": "NW",
    "SOUTHEAST": "SE", "SOUTHWEST": "SW",
}
UNIT_DESIGNATORS = {
    "APARTMENT": "APT", "APT": "APT", "SUITE": "STE", "STE": "STE", "UNIT": "UNIT",
    "BUILDING": "BLDG", "BLDG": "BLDG", "FLOOR": "FL", "FL": "FL", "ROOM": "RM", "RM": "RM",
    "DEPARTMENT": "DEPT", "DEPT": "DEPT", "LOT": "LOT", "SPACE": "SPC", "SPC": "SPC",
    "TRAILER": "TRLR", "TRLR": "TRLR", "BASEMENT": "BSMT", "PENTHOUSE": "PH", "PH": "PH",
    "OFFICE": "OFC", "OFC": "OFC",
}
ORDINALS = {
    "FIRST": "1ST", "SECOND": "2ND", "THIRD": "3RD", "FOURTH": "4TH", "FIFTH": "5TH",
    "SIXTH": "6TH", "SEVENTH": "7TH", "EIGHTH": "8TH", "NINTH": "9TH", "TENTH": "10TH",
}
ADDRESS_WORDS = {**STREET_SUFFIXES, **DIRECTIONS, **UNIT_DESIGNATORS, **ORDINALS}
UNIT_WORDS = frozenset(UNIT_DESIGNATORS.values())
DIRECTION_WORDS = frozenset(DIRECTIONS.values())
JUNK_ADDRESSES = frozenset(
    {
        "UNKNOWN", "UNK", "NA", "N A", "NONE", "NULL", "NO ADDRESS", "TEST", "ADDRESS",
        "HOMELESS", "TBD", "DECLINED", "REFUSED", "XXX", "NOT PROVIDED", "ADDRESS UNKNOWN",
    }
)
CITY_WORDS = {"SAINT": "ST", "SAINTE": "STE", "FORT": "FT", "MOUNT": "MT"}
JUNK_CITIES = frozenset({"UNKNOWN", "UNK", "NA", "N A", "NONE", "NULL", "TEST", "CITY", "TBD", "XXX"})


def _upper_words(text: str) -> str:
    text = ascii_text(text).upper()
    text = re.sub(r"['`]", "", text)
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9#]+", " ", text)).strip()


def normalize_address(value: Any) -> str | None:
    """'123 North Main Street, Apt. #4B' -> '123 N MAIN ST APT 4B' (USPS-style abbreviations)."""
    text = cell_text(value)
    if text is None:
        return None
    text = _upper_words(text).replace("#", " # ")
    text = re.sub(r"\b(POST OFFICE BOX|P O BOX|P O B|POBOX|POB)\b", "PO BOX", text)
    words: list[str] = []
    for token in text.split():
        if token == "#":
            # '#' after a unit word is noise (STE #200); alone it stands for the unit (#4 -> APT 4)
            if not (words and words[-1] in UNIT_WORDS):
                words.append("APT")
            continue
        words.append(ADDRESS_WORDS.get(token, token))
    _standard_suffix(words)
    address = " ".join(words)
    if not address or address in JUNK_ADDRESSES or re.match(REPEATED_CHAR_RE, address.replace(" ", "")):
        return None
    return address


def _standard_suffix(words: list[str]) -> None:
    """Map the street suffix to its USPS abbreviation, in place: the last word of the street
    before a unit designator, behind a trailing direction, after a name word."""
    end = next((i for i, w in enumerate(words) if i and w in UNIT_WORDS),
               len(words))
    at = end - 1
    if at >= 0 and words[at] in DIRECTION_WORDS:
        at -= 1
    if at >= 1 and not words[at - 1].isdigit() and words[at] in SUFFIX_VARIANTS:
        words[at] = SUFFIX_VARIANTS[words[at]]


def normalize_city(value: Any) -> str | None:
    """'St. Louis' / 'Saint Louis' -> 'ST LOUIS'."""
    text = cell_text(value)
    if text is None:
        return None
    city = " ".join(CITY_WORDS.get(t, t) for t in _upper_words(text).replace("#", " ").split())
    if not city or city in JUNK_CITIES or not re.search(r"[A-Z]", city):
        return None
    return city


US_STATES = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "WASHINGTON DC": "DC", "WASHINGTON D C": "DC", "FLORIDA": "FL", "GEORGIA": "GA",
    "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL", "INDIANA": "IN", "IOWA": "IA",
    "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA", "MAINE": "ME", "MARYLAND": "MD",
    "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN", "MISSISSIPPI": "MS",
    "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV", "NEW HAMPSHIRE": "NH",
    "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY", "NORTH CAROLINA": "NC",
    "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR", "PENNSYLVANIA": "PA",
    "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD", "TENNESSEE": "TN",
    "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA", "WASHINGTON": "WA",
    "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY", "PUERTO RICO": "PR",
    "GUAM": "GU", "VIRGIN ISLANDS": "VI", "US VIRGIN ISLANDS": "VI", "AMERICAN SAMOA": "AS",
    "NORTHERN MARIANA ISLANDS": "MP",
    # Canadian provinces share the field in North American data
    "ALBERTA": "AB", "BRITISH COLUMBIA": "BC", "MANITOBA": "MB", "NEW BRUNSWICK": "NB",
    "NEWFOUNDLAND AND LABRADOR": "NL", "NEWFOUNDLAND": "NL", "NOVA SCOTIA": "NS",
    "ONTARIO": "ON", "PRINCE EDWARD ISLAND": "PE", "QUEBEC": "QC", "SASKATCHEWAN": "SK",
    "NORTHWEST TERRITORIES": "NT", "NUNAVUT": "NU", "YUKON": "YT",
}


def _region_code(value: Any, codes: dict[str, str]) -> str | None:
    """A place name's code in `codes` (upper-case words as keys); any other two-letter code
    as written; else the cleaned upper-case words."""
    text = cell_text(value)
    if text is None:
        return None
    words = re.sub(r"\s+", " ", re.sub(r"[^A-Z]+", " ", ascii_text(text).upper())).strip()
    if not words or words in JUNK_CITIES:
        return None
    if words in codes:
        return codes[words]
    compact = words.replace(" ", "")
    return compact if len(compact) == 2 else words


def normalize_state(value: Any) -> str | None:
    """'new york' / 'N.Y.' / 'NY' -> 'NY'; unknown names stay as cleaned upper case words."""
    return _region_code(value, US_STATES)


COUNTRIES = {
    "UNITED STATES": "US", "UNITED STATES OF AMERICA": "US", "USA": "US", "U S A": "US",
    "U S": "US", "AMERICA": "US", "CANADA": "CA", "CAN": "CA", "MEXICO": "MX", "MEX": "MX",
    "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "UK": "GB", "GBR": "GB", "ENGLAND": "GB",
    "SCOTLAND": "GB", "WALES": "GB", "NORTHERN IRELAND": "GB", "IRELAND": "IE", "IRL": "IE",
    "AUSTRALIA": "AU", "AUS": "AU", "NEW ZEALAND": "NZ", "NZL": "NZ", "GERMANY": "DE",
    "DEUTSCHLAND": "DE", "DEU": "DE", "FRANCE": "FR", "FRA": "FR", "SPAIN": "ES", "ESPANA": "ES",
    "ESP": "ES", "ITALY": "IT", "ITALIA": "IT", "ITA": "IT", "NETHERLANDS": "NL",
    "THE NETHERLANDS": "NL", "HOLLAND": "NL", "NLD": "NL", "BELGIUM": "BE", "SWITZERLAND": "CH",
    "AUSTRIA": "AT", "SWEDEN": "SE", "NORWAY": "NO", "DENMARK": "DK", "FINLAND": "FI",
    "POLAND": "PL", "PORTUGAL": "PT", "BRAZIL": "BR", "BRASIL": "BR", "ARGENTINA": "AR",
    "CHILE": "CL", "COLOMBIA": "CO", "PERU": "PE", "INDIA": "IN", "IND": "IN", "CHINA": "CN",
    "JAPAN": "JP", "SOUTH KOREA": "KR", "KOREA": "KR", "SINGAPORE": "SG", "PHILIPPINES": "PH",
    "SOUTH AFRICA": "ZA", "ISRAEL": "IL", "UNITED ARAB EMIRATES": "AE", "UAE": "AE",
    "PUERTO RICO": "PR",
}


def normalize_country(value: Any) -> str | None:
    """'United States' / 'USA' / 'us' -> 'US'; other two-letter codes upper-cased; else words."""
    return _region_code(value, COUNTRIES)


# ---------------------------------------------------------------------------------------------
# postal codes (Spark mirrors these steps in preprocess)

POSTAL_JUNK_RE = r"^(.)\1+$"
POSTAL_REQUIRED_RE = r"[0-9]"  # every postal system in CDP data has a digit; 'NULL', 'NONE' have none


def normalize_postal(value: Any, country: str | None = "US") -> str | None:
    """'02134-1234' -> '02134'; '2134' (leading zero lost) -> '02134' for US; 'sw1a 1aa' -> 'SW1A1AA'."""
    text = cell_text(value)
    if text is None:
        return None
    code = re.sub(r"[^A-Z0-9]", "", re.sub(r"\.0+$", "", text.upper()))
    if re.fullmatch(r"\d{9}|\d{5}", code):
        code = code[:5]
    elif re.fullmatch(r"\d{4}", code) and (country or "US") == "US":
        code = "0" + code
    if not re.search(POSTAL_REQUIRED_RE, code) or re.match(POSTAL_JUNK_RE, code):
        return None
    return code


# ---------------------------------------------------------------------------------------------
# birthdates
# (guard regex, Python strptime format, Spark datetime pattern): tried in order; the guard keeps
# both engines from accepting odd widths (strptime reads '1985034' as %Y%m%d otherwise).
# Month-first comes before day-first: US data is the default; day-first wins only when the
# first number cannot be a month.

BIRTHDATE_FORMATS: tuple[tuple[str, str, str], ...] = (
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d", "yyyy-M-d"),
    (r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d", "yyyy/M/d"),
    (r"^\d{8}$", "%Y%m%d", "yyyyMMdd"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y", "M/d/yyyy"),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y", "d/M/yyyy"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%m-%d-%Y", "M-d-yyyy"),
    (r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y", "d-M-yyyy"),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y", "d.M.yyyy"),
    (r"^[A-Za-z]{3} \d{1,2} \d{4}$", "%b %d %Y", "MMM d yyyy"),
    (r"^[A-Za-z]{4,} \d{1,2} \d{4}$", "%B %d %Y", "MMMM d yyyy"),
    (r"^\d{1,2} [A-Za-z]{3} \d{4}$", "%d %b %Y", "d MMM yyyy"),
    (r"^\d{1,2} [A-Za-z]{4,} \d{4}$", "%d %B %Y", "d MMMM yyyy"),
)
BIRTHDATE_TIME_RE = r"^(\d{4}-\d{1,2}-\d{1,2})[T ].*$"  # ISO timestamps: keep the date part
BIRTHDATE_MIN = _dt.date(1900, 1, 2)  # 1900-01-01 and earlier are placeholders or impossible
BIRTHDATE_PLACEHOLDERS = frozenset({_dt.date(1901, 1, 1)})


def _clean_birthdate_text(text: str) -> str:
    text = re.sub(BIRTHDATE_TIME_RE, r"\1", text.strip())
    if re.search(r"[A-Za-z]", text):
        text = re.sub(r"[,.\-/]", " ", text)
    text = re.sub(r"(?i)\bsept\b", "Sep", text)
    return re.sub(r"\s+", " ", text).strip().title()


def plausible_birthdate(day: _dt.date | None, today: _dt.date | None = None) -> _dt.date | None:
    if day is None or day < BIRTHDATE_MIN or day in BIRTHDATE_PLACEHOLDERS:
        return None
    return None if day > (today or _dt.date.today()) else day


def normalize_birthdate(value: Any, today: _dt.date | None = None) -> _dt.date | None:
    """'03/04/1985', '1985-03-04T00:00:00', 'March 4, 1985', date(...) -> date(1985, 3, 4)."""
    if isinstance(value, _dt.datetime):
        return plausible_birthdate(value.date(), today)
    if isinstance(value, _dt.date):
        return plausible_birthdate(value, today)
    text = cell_text(value)
    if text is None:
        return None
    text = _clean_birthdate_text(text)
    for guard, py_format, _ in BIRTHDATE_FORMATS:
        if re.search(guard, text):
            try:
                return plausible_birthdate(_dt.datetime.strptime(text, py_format).date(), today)
            except ValueError:
                continue
    return None


# ---------------------------------------------------------------------------------------------
# gender

GENDERS = {
    **dict.fromkeys(["M", "MALE", "MAN", "BOY", "MR", "MASCULINE"], "M"),
    **dict.fromkeys(["F", "FEMALE", "WOMAN", "W", "GIRL", "MRS", "MS", "MISS", "FEMININE"], "F"),
    **dict.fromkeys(
        ["O", "X", "OTHER", "NONBINARY", "NB", "ENBY", "GENDERQUEER", "GENDERFLUID", "AGENDER",
         "INTERSEX", "DIVERSE"],
        "O",
    ),
}


def normalize_gender(value: Any) -> str | None:
    """'Female' / 'f' / 'W' -> 'F'; 'non-binary' -> 'O'; 'U', 'unknown', '1' -> None."""
    text = cell_text(value)
    if text is None:
        return None
    return GENDERS.get(re.sub(r"[^A-Z]", "", text.upper()))


# ---------------------------------------------------------------------------------------------
# loyalty ids

LOYALTY_JUNK = frozenset({"NA", "NONE", "NULL", "UNKNOWN", "TEST", "NIL", "TBD"})


def normalize_loyalty_id(value: Any) -> str | None:
    """' ab-0012 345 ' -> 'AB0012345'; placeholders ('N/A', '0000', 'XXXX') -> None."""
    text = cell_text(value)
    if text is None:
        return None
    code = re.sub(r"[^A-Z0-9]", "", re.sub(r"\.0+$", "", text.upper()))
    if not code or code in LOYALTY_JUNK or re.match(REPEATED_CHAR_RE, code):
        return None
    return code
