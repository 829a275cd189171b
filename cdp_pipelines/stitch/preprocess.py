"""Stitch stage 1: add normalised and blocking columns to the unified input.

`preprocess(df, default_region="US")` keeps every input column as it came and adds the columns
below (always all of them, NULL where the input lacks the source column, so later stages see one
schema whatever the tenant maps). Input columns: `source`, `pk`, any of the semantic columns
given_name, surname, full_name, email, phone, address, address2, city, state, postal, country,
birthdate (string, date or timestamp), gender, loyalty_id, plus `fk_<namespace>` and `sk`.

Naming: `<semantic>_norm` is the cleaned value of one input column; other suffixes name a
derived form.

| column                 | from                         | example                      |
|------------------------|------------------------------|------------------------------|
| given_name_norm        | given_name, else full_name   | 'jose'                       |
| given_name_canonical   | given_name_norm + nicknames  | 'bob' -> 'robert'            |
| given_name_forms       | given_name_norm + nicknames  | 'harry' -> 'harold harry henry' |
| surname_norm           | surname, else full_name      | 'obrien smith'               |
| full_name_norm         | given_name_norm surname_norm | 'jose obrien smith'          |
| email_norm             | email                        | 'john.smith+x@gmail.com'     |
| email_canonical        | email_norm                   | 'johnsmith@gmail.com'        |
| phone_e164             | phone (+ country)            | '+12125550123'               |
| phone_last10           | phone_e164                   | '2125550123'                 |
| address_norm           | address                      | '123 N MAIN ST APT 4B'       |
| address2_norm          | address2                     | 'APT 4B'                     |
| address_full_norm      | address_norm address2_norm   | '123 N MAIN ST APT 4B'       |
| city_norm, state_norm  | city, state                  | 'ST LOUIS', 'MO'             |
| country_norm           | country                      | 'US'                         |
| postal_norm            | postal (+ country)           | '02134'                      |
| address_key            | address_full_norm|postal     | '123 N MAIN ST 4B|02134'     |
| birthdate_norm (date)  | birthdate                    | 1985-03-04                   |
| gender_norm            | gender                       | 'M' / 'F' / 'O'              |
| loyalty_id_norm        | loyalty_id                   | 'AB0012345'                  |
| fk_<ns>_norm, sk_norm  | fk_<ns>, sk (trimmed)        |                              |
| blocking helpers       | given_name_soundex, surname_soundex, postal3, house_number,  |
|                        | birth_year                                                   |

The rules are the ones in `normalize.py`. Emails, postal codes, birthdates, gender and loyalty ids
run as Spark SQL built-ins on the same regexes and tables (a test holds both paths to the same
answers); names, phones and address fields need unidecode/phonenumbers and run in one Arrow
pandas UDF (one trip through Python per batch, repeated values computed once per batch).
"""


from typing import TYPE_CHECKING

from cdp_pipelines.stitch import normalize as nz

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

SEMANTIC_COLUMNS = (
    "given_name", "surname", "full_name", "email", "phone", "address", "address2", "city",
    "state", "postal", "country", "birthdate", "gender", "loyalty_id",
)
NORMALIZED_COLUMNS = (
    "given_name_norm", "given_name_canonical", "surname_norm", "full_name_norm", "email_norm",
    "email_canonical", "phone_e164", "phone_last10", "address_norm", "address2_norm",
    "address_full_norm", "city_norm", "state_norm", "country_norm", "postal_norm", "address_key",
    "birthdate_norm", "gender_norm", "loyalty_id_norm", "given_name_soundex", "surname_soundex",
    "postal3", "house_number", "birth_year", "given_name_forms",
)

# Python's str.strip() whitespace, as a Java regex class
_EDGE_SPACE = r"^[\s\p{Z}\x{85}\x{1C}-\x{1F}]+|[\s\p{Z}\x{85}\x{1C}-\x{1F}]+$"


def _strip(col: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.regexp_replace(col.cast("string"), _EDGE_SPACE, "")


def _nullif_empty(col: "Column") -> "Column":
    from pyspark.sql import functions as F

    return F.when(col != "", col)


def _lookup(table: dict[str, str], key: "Column") -> "Column":
    from pyspark.sql import functions as F

    pairs = [F.lit(item) for kv in sorted(table.items()) for item in kv]
    return F.try_element_at(F.create_map(*pairs), key)


def email_columns(raw: "Column") -> tuple["Column", "Column"]:
    """(email_norm, email_canonical) in Spark SQL; mirrors normalize_email / canonical_email."""
    from pyspark.sql import functions as F

    email = F.lower(F.regexp_replace(_strip(raw), nz.EMAIL_STRIP_RE, ""))
    email = F.regexp_replace(email, "^mailto:", "")
    junk = F.lit(False)
    for pattern in nz.EMAIL_JUNK_RES:
        junk = junk | email.rlike(pattern)
    email_norm = F.when(email.rlike(nz.EMAIL_SHAPE_RE) & ~junk, email)
    local = F.regexp_replace(F.regexp_extract(email_norm, "^(.*)@", 1), r"\+.*$", "")
    domain = F.regexp_extract(email_norm, "@([^@]*)$", 1)
    is_gmail = domain.isin(*nz.GMAIL_DOMAINS)
    local = F.when(is_gmail, F.translate(local, ".", "")).otherwise(local)
    domain = F.when(is_gmail, F.lit("gmail.com")).otherwise(domain)
    canonical = F.when(local != "", F.concat(local, F.lit("@"), domain))
    return email_norm, canonical


def postal_column(raw: "Column", country: "Column") -> "Column":
    """postal_norm in Spark SQL; mirrors normalize_postal (country: effective ISO code)."""
    from pyspark.sql import functions as F

    code = F.regexp_replace(F.regexp_replace(F.upper(_strip(raw)), r"\.0+$", ""), "[^A-Z0-9]", "")
    code = (
        F.when(code.rlike(r"^(\d{9}|\d{5})$"), F.substring(code, 1, 5))
        .when(code.rlike(r"^\d{4}$") & (country == "US"), F.concat(F.lit("0"), code))
        .otherwise(code)
    )
    return F.when(code.rlike(nz.POSTAL_REQUIRED_RE) & ~code.rlike(nz.POSTAL_JUNK_RE), code)


def birthdate_column(raw: "Column", raw_type: str) -> "Column":
    """birthdate_norm in Spark SQL; mirrors normalize_birthdate (today = current_date())."""
    from pyspark.sql import functions as F

    if raw_type == "date":
        day = raw
    elif raw_type.startswith("timestamp"):
        day = F.to_date(raw)
    else:
        text = F.regexp_replace(_strip(raw), nz.BIRTHDATE_TIME_RE, "$1")
        text = F.when(text.rlike("[A-Za-z]"), F.regexp_replace(text, r"[,.\-/]", " ")).otherwise(text)
        text = F.regexp_replace(text, r"(?i)\bsept\b", "Sep")
        text = F.initcap(F.lower(F.trim(F.regexp_replace(text, r"\s+", " "))))
        day = F.coalesce(
            *[
                F.when(text.rlike(guard), F.try_to_date(text, spark_format))
                for guard, _, spark_format in nz.BIRTHDATE_FORMATS
            ]
        )
    placeholders = [F.lit(d) for d in sorted(nz.BIRTHDATE_PLACEHOLDERS)]
    return F.when(
        (day >= F.lit(nz.BIRTHDATE_MIN)) & ~day.isin(*placeholders) & (day <= F.current_date()),
        day,
    )


def gender_column(raw: "Column") -> "Column":
    from pyspark.sql import functions as F

    return _lookup(nz.GENDERS, F.regexp_replace(F.upper(_strip(raw)), "[^A-Z]", ""))


def loyalty_column(raw: "Column") -> "Column":
    from pyspark.sql import functions as F

    code = F.regexp_replace(F.regexp_replace(F.upper(_strip(raw)), r"\.0+$", ""), "[^A-Z0-9]", "")
    junk = code.isin(*sorted(nz.LOYALTY_JUNK)) | code.rlike(nz.REPEATED_CHAR_RE)
    return F.when((code != "") & ~junk, code)


PYTHON_FIELDS = (
    "given_name_norm", "given_name_canonical", "given_name_forms", "surname_norm",
    "full_name_norm", "address_norm", "address2_norm", "city_norm", "state_norm",
    "country_norm", "phone_e164", "phone_last10",
)
_PYTHON_INPUTS = (
    "given_name", "surname", "full_name", "address", "address2", "city", "state", "country", "phone",
)


def _memo(fn):
    """Per-batch cache: names, cities, states and countries repeat heavily within a batch."""
    cache: dict = {}

    def call(*args):
        if args not in cache:
            cache[args] = fn(*args)
        return cache[args]

    return call


def normalise_python_columns(columns: dict, default_region: str = "US"):
    """The library-backed columns for one batch: {input name: pandas Series} -> pandas DataFrame.

    `columns` holds the series named in _PYTHON_INPUTS; the result has PYTHON_FIELDS.
    """
    import pandas as pd

    person, street = _memo(nz.normalize_person_name), _memo(nz.normalize_address)
    town, region = _memo(nz.normalize_city), _memo(nz.normalize_state)
    countries = [_memo(nz.normalize_country)(v) for v in columns["country"]]
    names = [
        person(g, s, f)
        for g, s, f in zip(columns["given_name"], columns["surname"], columns["full_name"])
    ]
    phones = [
        nz.normalize_phone(p, c if c is not None and len(c) == 2 else default_region)
        for p, c in zip(columns["phone"], countries)
    ]
    return pd.DataFrame(
        {
            "given_name_norm": [n.given for n in names],
            "given_name_canonical": [n.given_canonical for n in names],
            "given_name_forms": [n.given_forms for n in names],
            "surname_norm": [n.surname for n in names],
            "full_name_norm": [n.full for n in names],
            "address_norm": [street(v) for v in columns["address"]],
            "address2_norm": [street(v) for v in columns["address2"]],
            "city_norm": [town(v) for v in columns["city"]],
            "state_norm": [region(v) for v in columns["state"]],
            "country_norm": countries,
            "phone_e164": [p.e164 for p in phones],
            "phone_last10": [p.last10 for p in phones],
        },
        dtype=object,
    )


def _python_udf(default_region: str):
    """One Arrow UDF for every column that needs a Python library: one trip through Python."""
    import pandas as pd
    from pyspark.sql.functions import pandas_udf

    @pandas_udf(", ".join(f"{f} string" for f in PYTHON_FIELDS))
    def normalise_batch(
        given_name: pd.Series, surname: pd.Series, full_name: pd.Series, address: pd.Series,
        address2: pd.Series, city: pd.Series, state: pd.Series, country: pd.Series,
        phone: pd.Series,
    ) -> pd.DataFrame:
        series = (given_name, surname, full_name, address, address2, city, state, country, phone)
        return normalise_python_columns(dict(zip(_PYTHON_INPUTS, series)), default_region)

    return normalise_batch


def address_full_column(address: "Column", address2: "Column") -> "Column":
    """address_full_norm from the normalised street line and unit (NULL without a street)."""
    from pyspark.sql import functions as F

    return F.when(address.isNotNull(), F.concat_ws(" ", address, address2))


# A unit designator followed by its unit: 'APT 4B', 'STE 4B' and 'UNIT 4B' are one flat.
_UNIT_WORD = r"(^| )(?:{}) (?=\S)".format("|".join(sorted(nz.UNIT_WORDS)))


def address_key_column(address: "Column", address2: "Column", postal: "Column",
                       city: "Column") -> "Column":
    """address_key: the full street line without its unit designators (the unit itself
    stays), and the postal code (else the city): the key addresses are blocked and grouped
    by (badvalues, households)."""
    from pyspark.sql import functions as F

    full = F.regexp_replace(address_full_column(address, address2), _UNIT_WORD, "$1")
    return F.when(full.isNotNull(), F.concat_ws("|", full, F.coalesce(postal, city)))


def preprocess(df: "DataFrame", default_region: str = "US") -> "DataFrame":
    """Add the normalised columns listed in the module docstring; input columns are kept."""
    from pyspark.sql import functions as F

    missing = [c for c in ("source", "pk") if c not in df.columns]
    if missing:
        raise ValueError(
            f"Stitch preprocess: the unified input lacks required column(s) {missing}; "
            f"it has {df.columns}. Map a pk semantic tag on every Stitch table."
        )
    clashes = [c for c in NORMALIZED_COLUMNS if c in df.columns]
    if clashes:
        raise ValueError(
            f"Stitch preprocess: input column(s) {clashes} collide with the columns preprocess "
            "adds; rename them in the domain table's Stitch mapping."
        )
    default_region = (default_region or "US").upper()
    types = dict(df.dtypes)

    def col(name: str) -> "Column":
        return F.col(name).cast("string") if name in df.columns else F.lit(None).cast("string")

    normalise_batch = _python_udf(default_region)
    out = df.withColumn("_py", normalise_batch(*[col(c) for c in _PYTHON_INPUTS]))
    email_norm, email_canonical = email_columns(col("email"))
    country = F.coalesce(F.col("_py.country_norm"), F.lit(default_region))
    birthdate = (
        birthdate_column(F.col("birthdate"), types["birthdate"])
        if "birthdate" in df.columns
        else F.lit(None).cast("date")
    )
    out = out.select(
        *[F.col(c) for c in df.columns],
        "_py.*",
        email_norm.alias("email_norm"),
        email_canonical.alias("email_canonical"),
        postal_column(col("postal"), country).alias("postal_norm"),
        birthdate.alias("birthdate_norm"),
        gender_column(col("gender")).alias("gender_norm"),
        loyalty_column(col("loyalty_id")).alias("loyalty_id_norm"),
        *[
            _nullif_empty(_strip(F.col(c))).alias(f"{c}_norm")
            for c in df.columns
            if c.startswith("fk_") or c == "sk"
        ],
    )
    address_full = address_full_column(F.col("address_norm"), F.col("address2_norm"))
    out = (
        out.withColumn("address_full_norm", address_full)
        .withColumn("address_key", address_key_column(
            F.col("address_norm"), F.col("address2_norm"), F.col("postal_norm"),
            F.col("city_norm")))
        .withColumn("given_name_soundex", F.soundex("given_name_canonical"))
        .withColumn("surname_soundex", F.soundex(F.regexp_replace("surname_norm", " ", "")))
        .withColumn("postal3", F.substring("postal_norm", 1, 3))
        .withColumn("house_number", _nullif_empty(F.regexp_extract("address_norm", r"^(\d+)", 1)))
        .withColumn("birth_year", F.year("birthdate_norm"))
    )
    extra = [c for c in out.columns if c not in df.columns and c not in NORMALIZED_COLUMNS]
    return out.select(*df.columns, *NORMALIZED_COLUMNS, *extra)
