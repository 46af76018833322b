"""Places of the geco_admin scenario: towns of the mid-Willamette Valley (Oregon) with
their ZIP codes and area codes, street names, shelters and the hospital's own address.

Assumptions: Salem and Keizer addresses end in a quadrant (``NE``, ``SE``, ``NW``, ``S``,
``N``); the other towns do not. Most people live in Salem. Shelters and the day centre
are fictional but typical: one street address shared by hundreds of clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CITIES",
    "HOSPITAL_ADDRESS",
    "SHELTERS",
    "STREETS",
    "STREET_TYPES",
    "City",
    "Shelter",
]


@dataclass(frozen=True, slots=True)
class City:
    """A town: name, ZIP codes, weight (share of the population), area codes, quadrants."""

    name: str
    zips: tuple[str, ...]
    weight: float
    area_codes: tuple[str, ...]
    quadrants: tuple[str, ...]


CITIES: Final = (
    City(
        "SALEM",
        ("97301", "97302", "97303", "97304", "97305", "97306", "97317"),
        52,
        ("503", "971"),
        ("NE", "SE", "NW", "S"),
    ),
    City("KEIZER", ("97303", "97307"), 8, ("503", "971"), ("N", "NE")),
    City("WOODBURN", ("97071",), 6, ("503", "971"), ()),
    City("SILVERTON", ("97381",), 3, ("503",), ()),
    City("STAYTON", ("97383",), 2, ("503",), ()),
    City("DALLAS", ("97338",), 4, ("503",), ()),
    City("MONMOUTH", ("97361",), 2, ("503",), ()),
    City("INDEPENDENCE", ("97351",), 2, ("503",), ()),
    City("ALBANY", ("97321", "97322"), 9, ("541",), ()),
    City("LEBANON", ("97355",), 4, ("541",), ()),
    City("CORVALLIS", ("97330", "97333"), 6, ("541",), ()),
    City("MOUNT ANGEL", ("97362",), 1, ("503",), ()),
    City("AUMSVILLE", ("97325",), 1, ("503",), ()),
    City("TURNER", ("97392",), 0.7, ("503",), ()),
    City("JEFFERSON", ("97352",), 0.8, ("541",), ()),
    City("SWEET HOME", ("97386",), 1.5, ("541",), ()),
    City("GERVAIS", ("97026",), 0.5, ("503",), ()),
    City("HUBBARD", ("97032",), 0.5, ("503",), ()),
)

#: Street names (without type), shared by all towns.
STREETS: Final = tuple(
    dict.fromkeys(
        str.split(
            """
LANCASTER COMMERCIAL CENTER STATE MARKET SILVERTON PORTLAND FISHER HAWTHORNE FRONT LIBERTY
HIGH CHURCH COURT CHEMEKETA UNION MISSION MADRONA KUEBLER SUNNYVIEW HAYESVILLE CORDON
AUBURN MACLEAY TURNER PRINGLE WALLACE EDGEWATER GLEN CREEK ORCHARD HEIGHTS BROWN HOLLYWOOD
BROADWAY FAIRGROUNDS CAPITOL SUMMER WINTER COTTAGE DIVISION NORWAY SHIPPING HIGHLAND PINE
HYDE OAK MAPLE ELM CEDAR MAIN PARK WASHINGTON JEFFERSON LINCOLN MADISON MONROE JACKSON
GRANT ADAMS HOOVER RIVER CHERRY SPRUCE WILLOW BIRCH ASH HAZEL LAUREL ALDER SYCAMORE
CHESTNUT WALNUT HICKORY JUNIPER SEQUOIA CASCADE HOOD JEFFERSON SANTIAM WILLAMETTE
MCKENZIE DEVON CAMBRIDGE OXFORD WINDSOR ROYAL LEWIS CLARK ELLIS HAYES MORGAN TAYLOR
STEWART ALICE DOAKS FERRY BLOSSOM CANDALARIA BATTLE CREEK BOONE SKYLINE JOSEPH BELLEVUE
MEYERS MILDRED BARNES ROSEMONT GEER ELMA KALE LANA ARGYLE MEADOW VALLEY SUNSET SUNRISE
HILLCREST FOREST GARDEN VISTA RIDGE LAKE SPRING COLUMBIA KNOX POLK LINN BENTON MARION
YAMHILL CLAY HELENA HAWK EAGLE QUAIL FALCON DEER ELK SALMON TROUT
"""
        )
    )
)

#: Street types: (abbreviation, full word).
STREET_TYPES: Final = (
    ("ST", "STREET"),
    ("AVE", "AVENUE"),
    ("RD", "ROAD"),
    ("DR", "DRIVE"),
    ("LN", "LANE"),
    ("CT", "COURT"),
    ("WAY", "WAY"),
    ("PL", "PLACE"),
    ("BLVD", "BOULEVARD"),
    ("LOOP", "LOOP"),
    ("CIR", "CIRCLE"),
)


@dataclass(frozen=True, slots=True)
class Shelter:
    """A shelter, day centre or mission: one street address for many clients."""

    name: str
    number: str
    street: str
    street_type: str
    direction: str
    city: str
    zip5: str
    phone: str
    weight: float


SHELTERS: Final = (
    Shelter(
        "RIVERSIDE MISSION", "745", "COMMERCIAL", "ST", "NE", "SALEM", "97301", "5033627801", 30
    ),
    Shelter("HARBOR HOUSE", "1650", "CENTER", "ST", "NE", "SALEM", "97301", "5035884492", 12),
    Shelter("BRIDGES DAY CENTER", "615", "COMMERCIAL", "ST", "NE", "SALEM", "97301", "", 18),
    Shelter("KEIZER WARMING SHELTER", "4470", "RIVER", "RD", "N", "KEIZER", "97303", "", 6),
    Shelter("ALBANY HELPING HANDS", "619", "9TH", "AVE", "SE", "ALBANY", "97321", "5419263117", 8),
    Shelter("CORVALLIS MENS SHELTER", "530", "4TH", "ST", "SW", "CORVALLIS", "97333", "", 5),
)

#: The hospital's own address, which registrars enter for patients with no address.
HOSPITAL_ADDRESS: Final = Shelter(
    "VALLEY GENERAL HOSPITAL", "890", "OAK", "ST", "SE", "SALEM", "97301", "5035612200", 0
)
