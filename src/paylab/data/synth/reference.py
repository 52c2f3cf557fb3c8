"""Static reference tables behind the generator: MCCs, places, segments, yearly fraud drift."""

from __future__ import annotations

import numpy as np

# Spending categories: (name, share of all merchants, online share of its merchants, refund rate)
CATEGORIES: list[tuple[str, float, float, float]] = [
    ("grocery", 0.10, 0.03, 0.03),
    ("restaurant", 0.14, 0.02, 0.01),
    ("fast_food", 0.08, 0.02, 0.01),
    ("fuel", 0.06, 0.00, 0.01),
    ("transport", 0.05, 0.30, 0.03),
    ("travel", 0.05, 0.45, 0.08),
    ("retail", 0.14, 0.20, 0.09),
    ("electronics", 0.04, 0.35, 0.10),
    ("digital", 0.03, 1.00, 0.04),
    ("utilities", 0.03, 0.60, 0.02),
    ("health", 0.07, 0.05, 0.03),
    ("services", 0.07, 0.15, 0.03),
    ("entertainment", 0.04, 0.25, 0.03),
    ("gambling", 0.01, 0.50, 0.01),
    ("money_transfer", 0.02, 0.60, 0.02),
    ("auto", 0.03, 0.05, 0.05),
    ("home", 0.03, 0.15, 0.08),
    ("luxury", 0.01, 0.20, 0.10),
]
CATEGORY_NAMES = [c[0] for c in CATEGORIES]

# MCC code -> (description, category, median amount in USD, log-sd of amount)
MCCS: dict[int, tuple[str, str, float, float]] = {
    5411: ("Grocery Stores, Supermarkets", "grocery", 42.0, 0.8),
    5499: ("Miscellaneous Food Stores", "grocery", 18.0, 0.7),
    5300: ("Wholesale Clubs", "grocery", 85.0, 0.7),
    5422: ("Freezer and Locker Meat Provisioners", "grocery", 35.0, 0.6),
    5441: ("Candy, Nut, and Confectionery Stores", "grocery", 9.0, 0.6),
    5451: ("Dairy Products Stores", "grocery", 12.0, 0.6),
    5462: ("Bakeries", "grocery", 11.0, 0.6),
    5921: ("Package Stores, Beer, Wine, Liquor", "grocery", 26.0, 0.6),
    5812: ("Eating Places and Restaurants", "restaurant", 32.0, 0.7),
    5813: ("Drinking Places (Alcoholic Beverages)", "restaurant", 24.0, 0.7),
    5811: ("Caterers", "restaurant", 120.0, 0.8),
    5814: ("Fast Food Restaurants", "fast_food", 11.0, 0.5),
    5815: ("Digital Goods - Media, Books, Apps", "digital", 9.0, 0.8),
    5816: ("Digital Goods - Games", "digital", 14.0, 0.8),
    5817: ("Digital Goods - Applications (Excludes Games)", "digital", 7.0, 0.7),
    5818: ("Digital Goods - Large Digital Goods Merchant", "digital", 12.0, 0.8),
    5541: ("Service Stations", "fuel", 38.0, 0.5),
    5542: ("Automated Fuel Dispensers", "fuel", 42.0, 0.5),
    4111: ("Local and Suburban Commuter Transportation", "transport", 6.0, 0.6),
    4121: ("Taxicabs and Limousines", "transport", 22.0, 0.6),
    4131: ("Bus Lines", "transport", 18.0, 0.6),
    4784: ("Tolls and Bridge Fees", "transport", 6.0, 0.5),
    7523: ("Parking Lots, Garages", "transport", 12.0, 0.6),
    4112: ("Passenger Railways", "transport", 45.0, 0.7),
    4511: ("Airlines", "travel", 380.0, 0.6),
    3000: ("Airlines: United", "travel", 410.0, 0.6),
    3001: ("Airlines: American", "travel", 400.0, 0.6),
    3005: ("Airlines: British Airways", "travel", 650.0, 0.6),
    4411: ("Cruise Lines", "travel", 900.0, 0.6),
    4722: ("Travel Agencies and Tour Operators", "travel", 450.0, 0.8),
    7011: ("Hotels, Motels, and Resorts", "travel", 190.0, 0.6),
    3504: ("Hotels: Hilton", "travel", 210.0, 0.5),
    3640: ("Hotels: Hyatt", "travel", 240.0, 0.5),
    7512: ("Automobile Rental Agency", "travel", 160.0, 0.6),
    5311: ("Department Stores", "retail", 55.0, 0.8),
    5310: ("Discount Stores", "retail", 35.0, 0.7),
    5651: ("Family Clothing Stores", "retail", 60.0, 0.7),
    5621: ("Women's Ready-To-Wear Stores", "retail", 65.0, 0.7),
    5611: ("Men's and Boys' Clothing and Accessories Stores", "retail", 70.0, 0.7),
    5661: ("Shoe Stores", "retail", 75.0, 0.6),
    5691: ("Men's and Women's Clothing Stores", "retail", 62.0, 0.7),
    5941: ("Sporting Goods Stores", "retail", 58.0, 0.8),
    5942: ("Book Stores", "retail", 24.0, 0.6),
    5945: ("Hobby, Toy, and Game Shops", "retail", 33.0, 0.7),
    5947: ("Gift, Card, Novelty, and Souvenir Shops", "retail", 22.0, 0.7),
    5977: ("Cosmetic Stores", "retail", 30.0, 0.6),
    5999: ("Miscellaneous and Specialty Retail Stores", "retail", 40.0, 0.9),
    5964: ("Direct Marketing - Catalog Merchant", "retail", 45.0, 0.9),
    5655: ("Sports and Riding Apparel Stores", "retail", 55.0, 0.7),
    5732: ("Electronics Stores", "electronics", 120.0, 1.0),
    5045: ("Computers, Computer Peripheral Equipment", "electronics", 260.0, 0.9),
    5722: ("Household Appliance Stores", "electronics", 210.0, 0.8),
    5734: ("Computer Software Stores", "electronics", 60.0, 0.8),
    5735: ("Record Stores", "electronics", 20.0, 0.6),
    4814: ("Telecommunication Services", "utilities", 65.0, 0.5),
    4899: ("Cable, Satellite, and Other Pay Television Services", "utilities", 85.0, 0.4),
    4900: ("Utilities - Electric, Gas, Water, Sanitary", "utilities", 120.0, 0.5),
    4816: ("Computer Network Services", "utilities", 40.0, 0.6),
    5912: ("Drug Stores and Pharmacies", "health", 28.0, 0.7),
    8011: ("Doctors, Physicians", "health", 95.0, 0.8),
    8021: ("Dentists and Orthodontists", "health", 160.0, 0.8),
    8043: ("Optometrists, Ophthalmologists", "health", 120.0, 0.7),
    8049: ("Podiatrists", "health", 90.0, 0.6),
    8062: ("Hospitals", "health", 240.0, 1.0),
    8099: ("Medical Services", "health", 110.0, 0.9),
    8041: ("Chiropractors", "health", 70.0, 0.5),
    7230: ("Beauty and Barber Shops", "services", 35.0, 0.6),
    7210: ("Laundry Services", "services", 18.0, 0.5),
    7349: ("Cleaning and Maintenance", "services", 90.0, 0.7),
    8111: ("Legal Services and Attorneys", "services", 280.0, 0.9),
    8931: ("Accounting, Auditing, and Bookkeeping Services", "services", 180.0, 0.8),
    7276: ("Tax Preparation Services", "services", 150.0, 0.6),
    7393: ("Detective Agencies, Security Services", "services", 75.0, 0.6),
    8220: ("Colleges, Universities", "services", 450.0, 1.0),
    8398: ("Charitable and Social Service Organizations", "services", 50.0, 0.9),
    7801: ("Government-Licensed Online Casinos", "gambling", 60.0, 1.0),
    7995: ("Betting, Casino Gambling", "gambling", 80.0, 1.0),
    7832: ("Motion Picture Theaters", "entertainment", 24.0, 0.5),
    7922: ("Theatrical Producers", "entertainment", 85.0, 0.7),
    7996: ("Amusement Parks, Carnivals, Circuses", "entertainment", 70.0, 0.7),
    7997: ("Clubs, Country Clubs, Membership", "entertainment", 65.0, 0.6),
    7941: ("Athletic Fields, Commercial Sports", "entertainment", 55.0, 0.7),
    4829: ("Money Transfer", "money_transfer", 150.0, 1.0),
    6051: ("Quasi Cash, Money Orders", "money_transfer", 120.0, 1.0),
    6540: ("Stored Value Card Purchase/Load", "money_transfer", 90.0, 0.8),
    5533: ("Automotive Parts and Accessories Stores", "auto", 65.0, 0.8),
    7538: ("Automotive Service Shops", "auto", 240.0, 0.8),
    7531: ("Automotive Body Repair Shops", "auto", 420.0, 0.8),
    7542: ("Car Washes", "auto", 14.0, 0.4),
    5511: ("Car and Truck Dealers", "auto", 900.0, 1.0),
    5211: ("Lumber and Building Materials Stores", "home", 95.0, 0.9),
    5251: ("Hardware Stores", "home", 38.0, 0.8),
    5261: ("Lawn and Garden Supply Stores", "home", 45.0, 0.8),
    5712: ("Furniture, Home Furnishings, and Equipment Stores", "home", 280.0, 0.9),
    5719: ("Miscellaneous Home Furnishing Stores", "home", 60.0, 0.8),
    5992: ("Florists", "home", 45.0, 0.5),
    5995: ("Pet Shops, Pet Food, and Supplies Stores", "home", 42.0, 0.6),
    742: ("Veterinary Services", "home", 160.0, 0.7),
    5944: ("Jewelry Stores, Watches, Clocks, and Silverware Stores", "luxury", 320.0, 1.0),
    5094: ("Precious Stones and Metals, Watches and Jewelry", "luxury", 450.0, 1.0),
    5681: ("Furriers and Fur Shops", "luxury", 700.0, 0.8),
    5971: ("Art Dealers and Galleries", "luxury", 520.0, 1.0),
    3390: ("Tools, Parts, Supplies Manufacturing", "home", 70.0, 0.9),
    3359: ("Non-Ferrous Metal Rolling and Drawing", "home", 90.0, 0.9),
    3009: ("Fabricated Structural Metal Products", "home", 85.0, 0.9),
    3596: ("Miscellaneous Metals", "home", 60.0, 0.9),
    3780: ("Computer Network Services", "utilities", 55.0, 0.6),
    5193: ("Florists Supplies, Nursery Stock, and Flowers", "home", 40.0, 0.6),
    5970: ("Artist Supply and Craft Shops", "home", 32.0, 0.7),
}

# Merchant categories targeted by fraudsters once a card is compromised.
FRAUD_CATEGORIES = ("electronics", "digital", "luxury", "money_transfer", "retail", "travel")

# US cities: (city, state, latitude, longitude, first zip, population weight)
US_CITIES: list[tuple[str, str, float, float, int, float]] = [
    ("New York", "NY", 40.71, -74.01, 10001, 8.4), ("Los Angeles", "CA", 34.05, -118.24, 90001, 3.9),
    ("Chicago", "IL", 41.88, -87.63, 60601, 2.7), ("Houston", "TX", 29.76, -95.37, 77001, 2.3),
    ("Phoenix", "AZ", 33.45, -112.07, 85001, 1.6), ("Philadelphia", "PA", 39.95, -75.17, 19101, 1.6),
    ("San Antonio", "TX", 29.42, -98.49, 78201, 1.5), ("San Diego", "CA", 32.72, -117.16, 92101, 1.4),
    ("Dallas", "TX", 32.78, -96.80, 75201, 1.3), ("San Jose", "CA", 37.34, -121.89, 95101, 1.0),
    ("Austin", "TX", 30.27, -97.74, 73301, 0.96), ("Jacksonville", "FL", 30.33, -81.66, 32099, 0.9),
    ("Columbus", "OH", 39.96, -83.00, 43085, 0.9), ("Charlotte", "NC", 35.23, -80.84, 28201, 0.87),
    ("Indianapolis", "IN", 39.77, -86.16, 46201, 0.87), ("Seattle", "WA", 47.61, -122.33, 98101, 0.74),
    ("Denver", "CO", 39.74, -104.99, 80201, 0.72), ("Washington", "DC", 38.91, -77.04, 20001, 0.7),
    ("Boston", "MA", 42.36, -71.06, 2108, 0.69), ("Nashville", "TN", 36.16, -86.78, 37201, 0.67),
    ("Detroit", "MI", 42.33, -83.05, 48201, 0.67), ("Portland", "OR", 45.52, -122.68, 97201, 0.65),
    ("Las Vegas", "NV", 36.17, -115.14, 88901, 0.64), ("Memphis", "TN", 35.15, -90.05, 37501, 0.65),
    ("Louisville", "KY", 38.25, -85.76, 40018, 0.62), ("Baltimore", "MD", 39.29, -76.61, 21201, 0.6),
    ("Milwaukee", "WI", 43.04, -87.91, 53201, 0.59), ("Albuquerque", "NM", 35.08, -106.65, 87101, 0.56),
    ("Tucson", "AZ", 32.22, -110.97, 85701, 0.54), ("Fresno", "CA", 36.74, -119.79, 93650, 0.53),
    ("Sacramento", "CA", 38.58, -121.49, 94203, 0.51), ("Atlanta", "GA", 33.75, -84.39, 30301, 0.5),
    ("Kansas City", "MO", 39.10, -94.58, 64101, 0.49), ("Miami", "FL", 25.76, -80.19, 33101, 0.47),
    ("Omaha", "NE", 41.26, -95.93, 68101, 0.47), ("Raleigh", "NC", 35.78, -78.64, 27601, 0.47),
    ("Minneapolis", "MN", 44.98, -93.27, 55401, 0.43), ("Tulsa", "OK", 36.15, -95.99, 74101, 0.4),
    ("Cleveland", "OH", 41.50, -81.69, 44101, 0.38), ("New Orleans", "LA", 29.95, -90.07, 70112, 0.39),
    ("Honolulu", "HI", 21.31, -157.86, 96801, 0.35), ("Salt Lake City", "UT", 40.76, -111.89, 84101, 0.2),
    ("Boise", "ID", 43.62, -116.21, 83701, 0.23), ("Little Rock", "AR", 34.75, -92.29, 72201, 0.2),
    ("Des Moines", "IA", 41.59, -93.62, 50301, 0.21), ("Bettendorf", "IA", 41.52, -90.52, 52722, 0.04),
    ("Beulah", "ND", 47.26, -101.78, 58523, 0.01), ("Fargo", "ND", 46.88, -96.79, 58102, 0.12),
    ("Portland", "ME", 43.66, -70.26, 4101, 0.07), ("Burlington", "VT", 44.48, -73.21, 5401, 0.04),
    ("Anchorage", "AK", 61.22, -149.90, 99501, 0.29), ("San Juan", "PR", 18.47, -66.11, 901, 0.3),
]

# Foreign merchant locations: (city, country as written in merchant_state)
FOREIGN_CITIES: list[tuple[str, str]] = [
    ("Rome", "Italy"), ("Toronto", "Canada"), ("Mexico City", "Mexico"), ("London", "United Kingdom"),
    ("Paris", "France"), ("Berlin", "Germany"), ("Tokyo", "Japan"), ("Manila", "Philippines"),
    ("Santo Domingo", "Dominican Republic"), ("Cancun", "Mexico"), ("Vancouver", "Canada"),
    ("Madrid", "Spain"), ("Amsterdam", "Netherlands"), ("Seoul", "South Korea"), ("Lagos", "Nigeria"),
    ("Bangkok", "Thailand"), ("Dublin", "Ireland"), ("Athens", "Greece"), ("Lima", "Peru"),
    ("Beijing", "China"),
]

# Customer segments: share, age range, income median, online share, hour profile, travel trips/yr,
# financial stress (mean), weekly churn-hazard multiplier, category weights (CATEGORY_NAMES order).
SEGMENTS: dict[str, dict] = {
    "student": dict(share=0.12, age=(18, 26), income=22000, online=0.20, hours="night", trips=0.5, stress=0.5,
                    churn=1.6, prefs=[4, 4, 8, 2, 5, 1, 4, 2, 6, 1, 1, 1, 4, 1, 2, 0.5, 0.5, 0.2]),
    "young_professional": dict(share=0.22, age=(25, 40), income=62000, online=0.17, hours="evening", trips=1.5,
                               stress=0.0, churn=1.1,
                               prefs=[5, 7, 4, 3, 4, 3, 6, 3, 4, 2, 2, 3, 4, 0.5, 1, 1, 2, 1]),
    "family": dict(share=0.26, age=(30, 55), income=58000, online=0.09, hours="day", trips=0.8, stress=0.1,
                   churn=0.8, prefs=[9, 4, 4, 5, 1, 1, 6, 2, 1, 3, 3, 2, 2, 0.3, 0.5, 2, 4, 0.3]),
    "affluent": dict(share=0.12, age=(40, 70), income=140000, online=0.12, hours="day", trips=3.0,
                     stress=-0.8, churn=0.6, prefs=[5, 8, 1, 3, 3, 6, 5, 3, 2, 2, 3, 4, 3, 0.5, 0.5, 2, 4, 2.5]),
    "retiree": dict(share=0.16, age=(65, 90), income=36000, online=0.05, hours="day", trips=1.0, stress=-0.2,
                    churn=0.7, prefs=[10, 4, 2, 3, 1, 2, 3, 1, 0.5, 4, 8, 2, 1, 0.3, 0.5, 1, 2, 0.5]),
    "stressed": dict(share=0.12, age=(22, 60), income=30000, online=0.11, hours="evening", trips=0.3,
                     stress=1.4, churn=1.5, prefs=[7, 2, 8, 4, 2, 0.3, 3, 1, 3, 3, 2, 1, 1, 4, 7, 1, 0.5, 0.1]),
}

# Hour-of-day profiles (24 weights) for legitimate activity.
_H = np.arange(24)
HOUR_PROFILES: dict[str, np.ndarray] = {
    "day": np.exp(-0.5 * ((_H - 12.5) / 3.5) ** 2) + 0.4 * np.exp(-0.5 * ((_H - 18) / 2.0) ** 2) + 0.01,
    "evening": np.exp(-0.5 * ((_H - 18.5) / 3.0) ** 2) + 0.6 * np.exp(-0.5 * ((_H - 12.5) / 2.5) ** 2) + 0.02,
    "night": np.exp(-0.5 * ((_H - 21.0) / 3.5) ** 2) + 0.35 * np.exp(-0.5 * ((_H - 13) / 3.0) ** 2)
    + 0.25 * np.exp(-0.5 * (((_H + 24 - 21) % 24 - 3) / 2.0) ** 2) + 0.02,
}

# Yearly fraud rate among transactions (the real set drifts between 0.004% and 0.309%).
YEARLY_FRAUD_RATE: dict[int, float] = {
    2010: 0.00004, 2011: 0.0003, 2012: 0.0010, 2013: 0.0014, 2014: 0.0017, 2015: 0.0024,
    2016: 0.0029, 2017: 0.00309, 2018: 0.0026, 2019: 0.0020,
}
# Share of fraud rows by scenario in 2010 and in 2019 (linear in between; see paylab.data.synth.fraud): online fraud
# rises, cloned cards come with the chip era's fallback swipes, coordinated testing and takeovers grow.
SCENARIO_MIX: dict[str, tuple[float, float]] = {
    "card_not_present": (0.62, 0.36), "account_takeover": (0.04, 0.10), "counterfeit": (0.04, 0.34),
    "compromised_terminal": (0.07, 0.07), "coordinated_testing": (0.04, 0.08), "first_party": (0.10, 0.06),
}

# Errors in their canonical order (as joined in the errors column) with base rates on legitimate traffic.
ERRORS: dict[str, float] = {
    "Bad CVV": 0.00054, "Bad Card Number": 0.0006, "Bad Expiration": 0.00054, "Bad PIN": 0.0029,
    "Bad Zipcode": 0.00011, "Insufficient Balance": 0.0114, "Technical Glitch": 0.0024,
}
