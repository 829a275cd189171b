"""Small record frames and a hand-set model shared by the matching tests."""

COLS = ("source string, pk string, given_name_norm string, surname_norm string, "
        "email_norm string, phone_norm string, birthdate_norm string, "
        "postal_norm string, sk string")


def frame(spark, rows):
    return spark.createDataFrame(rows, COLS)


def pairs(edges):
    return {(r.record_id_l, r.record_id_r): r for r in edges.collect()}


def with_fixed_parameters(settings):
    """Hand-set m/u: exact agreement strong evidence, fuzzy weaker, else against."""
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        for i, level in enumerate(levels):
            if i == len(levels) - 1:
                level["m_probability"], level["u_probability"] = 0.05, 0.9
            elif i == 0:
                level["m_probability"], level["u_probability"] = 0.8, 0.01
            else:
                level["m_probability"], level["u_probability"] = 0.1, 0.005
    settings["probability_two_random_records_match"] = 0.01
    return settings


def prior_weight(p):
    import math

    return math.log2(p / (1 - p))
