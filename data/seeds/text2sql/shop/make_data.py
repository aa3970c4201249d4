"""Generate deterministic demo rows for the `shop` SQLite database.

Writes data.sql (one INSERT per row, wrapped in BEGIN;/COMMIT;) next to this
script. Stdlib only; the output is byte-identical on every run.

    python make_data.py
    sqlite3 shop.db < schema.sql && sqlite3 shop.db < data.sql
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data.sql"

START = dt.date(2023, 1, 1)
END = dt.date(2024, 12, 31)

CATEGORIES = [
    ("Electronics", "Phones, audio, computer accessories and gadgets"),
    ("Books", "Printed books across fiction and non-fiction"),
    ("Home & Kitchen", "Cookware, small appliances and home essentials"),
    ("Sports & Outdoors", "Fitness gear, camping and outdoor equipment"),
    ("Toys & Games", "Board games, puzzles and toys for all ages"),
    ("Clothing", "Apparel and accessories for men and women"),
    ("Beauty & Personal Care", "Skin care, hair care and grooming"),
    ("Garden", "Tools, planters and supplies for the garden"),
]

SUPPLIERS = [
    ("Nordic Gadgets AB", "Sweden", "+46 8 555 0101"),
    ("Shenzhen Bright Electronics", "China", "+86 755 5550 1122"),
    ("Penguin Street Books", "United Kingdom", "+44 20 5550 3344"),
    ("Maison Cuisine SARL", "France", None),
    ("Alpine Outdoor GmbH", "Germany", "+49 89 5550 7788"),
    ("PlayWell Toys Inc.", "United States", "+1 312 555 0199"),
    ("Tessuti Milano S.p.A.", "Italy", None),
    ("Pure Glow Cosmetics", "South Korea", "+82 2 555 0145"),
    ("GreenThumb Supplies", "Netherlands", "+31 20 555 0177"),
    ("Pacific Home Goods", "United States", "+1 415 555 0123"),
    ("Iberia Sport S.L.", "Spain", None),
    ("Maple Leaf Publishing", "Canada", "+1 416 555 0166"),
]

# category index (1-based) -> list of (product name, base price, supplier ids)
PRODUCTS = {
    1: [
        ("Wireless Earbuds Pro", 129.99), ("Bluetooth Speaker Mini", 49.99),
        ("USB-C Charging Cable 2m", 12.99), ("Noise Cancelling Headphones", 249.00),
        ("Smartwatch Series 5", 199.00), ("Portable Power Bank 20000mAh", 39.99),
        ("Mechanical Keyboard", 89.50), ("Wireless Mouse", 24.99),
        ("4K Webcam", 119.00), ("E-Reader Paperwhite", 139.99),
    ],
    2: [
        ("The Silent Orchard", 14.99), ("Cooking for Busy People", 24.50),
        ("A Short History of Everything Small", 18.00), ("Python for Data Analysis", 44.99),
        ("The Mountain Letters", 12.99), ("Mindful Mornings", 16.75),
        ("Atlas of Hidden Places", 35.00), ("The Last Lighthouse Keeper", 11.99),
        ("Beginner's Guide to Watercolor", 21.00), ("Startup Lessons Learned", 27.90),
    ],
    3: [
        ("Cast Iron Skillet 12in", 39.95), ("Stainless Steel Kettle", 34.99),
        ("Chef's Knife 8in", 59.00), ("Bamboo Cutting Board", 19.99),
        ("French Press Coffee Maker", 29.99), ("Non-Stick Frying Pan", 27.50),
        ("Electric Hand Mixer", 44.00), ("Glass Food Storage Set", 32.99),
        ("Espresso Machine", 349.00), ("Linen Tea Towels (Set of 3)", 15.99),
    ],
    4: [
        ("Yoga Mat Premium", 34.99), ("Adjustable Dumbbells 20kg", 149.00),
        ("Trail Running Shoes", 119.95), ("Camping Tent 2-Person", 189.00),
        ("Insulated Water Bottle", 24.99), ("Resistance Bands Set", 19.99),
        ("Hiking Backpack 40L", 89.00), ("Foam Roller", 22.50),
        ("Cycling Helmet", 64.99), ("Sleeping Bag 3-Season", 99.00),
    ],
    5: [
        ("Wooden Train Set", 54.99), ("1000-Piece Jigsaw Puzzle", 17.99),
        ("Strategy Board Game: Harbor Lords", 42.00), ("Plush Teddy Bear", 21.99),
        ("Remote Control Car", 69.99), ("Building Blocks Classic Box", 39.99),
        ("Card Game: Quick Draw", 9.99), ("Science Experiment Kit", 34.50),
        ("Magnetic Drawing Board", 18.49), ("Chess Set Deluxe", 79.00),
    ],
    6: [
        ("Merino Wool Sweater", 89.00), ("Organic Cotton T-Shirt", 19.99),
        ("Slim Fit Jeans", 59.95), ("Rain Jacket", 129.00),
        ("Leather Belt", 34.99), ("Wool Beanie", 17.50),
        ("Linen Summer Dress", 74.00), ("Running Socks (3 Pack)", 14.99),
        ("Down Winter Parka", 229.00), ("Silk Scarf", 49.50),
    ],
    7: [
        ("Hydrating Face Cream", 28.00), ("Vitamin C Serum", 34.99),
        ("Argan Oil Shampoo", 15.99), ("Electric Toothbrush", 79.99),
        ("Beard Trimmer", 54.99), ("Sunscreen SPF 50", 17.49),
        ("Lavender Body Lotion", 12.99), ("Hair Dryer Compact", 44.99),
        ("Clay Face Mask", 19.50), ("Lip Balm Trio", 8.99),
    ],
    8: [
        ("Pruning Shears", 24.99), ("Garden Hose 25m", 39.99),
        ("Terracotta Planter Large", 29.00), ("Raised Garden Bed Kit", 119.00),
        ("Tomato Seed Collection", 7.99), ("Solar Garden Lights (6 Pack)", 34.99),
        ("Compost Bin 300L", 64.00), ("Watering Can 10L", 18.99),
        ("Garden Kneeler Seat", 36.50), ("Bird Feeder Cedar", 27.99),
    ],
}

# suppliers that can deliver each category (1-based ids)
CATEGORY_SUPPLIERS = {
    1: [1, 2], 2: [3, 12], 3: [4, 10], 4: [5, 11],
    5: [6, 10], 6: [7, 11], 7: [8, 4], 8: [9, 10],
}

FIRST_NAMES = [
    "Anna", "Lukas", "Sophie", "Maximilian", "Emma", "Jonas", "Lea", "Felix",
    "Camille", "Louis", "Chloe", "Hugo", "Manon", "Oliver", "Amelia", "Harry",
    "Isla", "George", "Lucia", "Pablo", "Carmen", "Javier", "Giulia", "Marco",
    "Francesca", "Luca", "Sanne", "Daan", "Noah", "Olivia", "Liam", "Ava",
    "Ethan", "Mia", "James", "Charlotte", "Benjamin", "Grace", "Daniel", "Zoe",
    "Sean", "Aoife", "Mateo", "Elena", "Nina", "Tom", "Sara", "David",
]

LAST_NAMES = [
    "Muller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker", "Martin",
    "Bernard", "Dubois", "Moreau", "Laurent", "Smith", "Jones", "Taylor",
    "Brown", "Wilson", "Garcia", "Fernandez", "Lopez", "Martinez", "Rossi",
    "Russo", "Ferrari", "Bianchi", "de Vries", "Jansen", "Bakker", "Johnson",
    "Williams", "Miller", "Davis", "Anderson", "Thompson", "Clark", "O'Brien",
    "O'Connor", "Nguyen", "Kowalski", "Novak", "Lee",
]

# (city, country, weight, phone prefix)
CITIES = [
    ("Berlin", "Germany", 14, "+49 30"),
    ("Munich", "Germany", 9, "+49 89"),
    ("Hamburg", "Germany", 6, "+49 40"),
    ("Paris", "France", 12, "+33 1"),
    ("Lyon", "France", 5, "+33 4"),
    ("London", "United Kingdom", 15, "+44 20"),
    ("Manchester", "United Kingdom", 6, "+44 161"),
    ("Madrid", "Spain", 9, "+34 91"),
    ("Barcelona", "Spain", 8, "+34 93"),
    ("Rome", "Italy", 7, "+39 06"),
    ("Milan", "Italy", 6, "+39 02"),
    ("Amsterdam", "Netherlands", 8, "+31 20"),
    ("New York", "United States", 13, "+1 212"),
    ("Chicago", "United States", 7, "+1 312"),
    ("Austin", "United States", 4, "+1 512"),
    ("Toronto", "Canada", 6, "+1 416"),
]

PAYMENT_METHODS = ["credit_card", "paypal", "bank_transfer"]
PAYMENT_WEIGHTS = [55, 33, 12]
DISCOUNT_CODES = ["WELCOME10", "SUMMER15", "BLACKFRIDAY", "LOYAL5"]

POSITIVE_COMMENTS = [
    "Excellent quality, exactly as described.",
    "Works great, would buy again.",
    "Fast delivery and well packaged.",
    "Really happy with this purchase!",
    "Great value for the price.",
    "My family loves it.",
    "Better than I expected.",
]
NEUTRAL_COMMENTS = [
    "It is okay, does the job.",
    "Decent, but a bit overpriced.",
    "Average quality, nothing special.",
    "Good product but delivery was slow.",
]
NEGATIVE_COMMENTS = [
    "Broke after two weeks.",
    "Not as described, very disappointed.",
    "Poor quality, returned it.",
    "Stopped working after a month.",
    "Would not recommend.",
]


def rand_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def sql_value(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, dt.date):
        return "'" + v.isoformat() + "'"
    return "'" + str(v).replace("'", "''") + "'"


def insert(table: str, columns: list[str], row: tuple) -> str:
    cols = ", ".join(columns)
    vals = ", ".join(sql_value(v) for v in row)
    return f"INSERT INTO {table} ({cols}) VALUES ({vals});"


def main() -> None:
    rng = random.Random(1234)
    lines: list[str] = ["BEGIN;"]

    # categories
    for i, (name, desc) in enumerate(CATEGORIES, start=1):
        lines.append(insert("categories", ["category_id", "name", "description"], (i, name, desc)))

    # suppliers
    for i, (name, country, phone) in enumerate(SUPPLIERS, start=1):
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:16]
        email = f"sales@{slug}.example.com"
        lines.append(insert("suppliers", ["supplier_id", "name", "country", "contact_email", "phone"],
                            (i, name, country, email, phone)))

    # products
    products = []  # dicts
    pid = 0
    for cat_id in range(1, len(CATEGORIES) + 1):
        for name, price in PRODUCTS[cat_id]:
            pid += 1
            supplier_id = rng.choice(CATEGORY_SUPPLIERS[cat_id])
            created = rand_date(rng, dt.date(2021, 3, 1), dt.date(2022, 12, 31))
            if rng.random() < 0.12:  # some products were added during the period
                created = rand_date(rng, dt.date(2023, 2, 1), dt.date(2024, 9, 30))
            stock = rng.choice([0, 0, 3, 8, 12, 25, 40, 60, 75, 120, 150, 200, 310])
            products.append({
                "id": pid, "name": name, "category_id": cat_id, "supplier_id": supplier_id,
                "price": price, "stock": stock, "created": created, "discontinued": None,
                "popularity": rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6, 8]),
                "quality": rng.choice([2.2, 2.8, 3.2, 3.6, 3.9, 4.1, 4.3, 4.6]),
            })
    # discontinued products (their stock is zero)
    for p in rng.sample(products[:-4], 8):
        p["discontinued"] = rand_date(rng, dt.date(2023, 6, 1), dt.date(2024, 10, 31))
        if p["created"] >= p["discontinued"]:
            p["created"] = p["discontinued"] - dt.timedelta(days=200)
        p["stock"] = 0
    # a few brand-new products added at the very end of 2024 (never ordered yet)
    for p, day in zip(rng.sample(products, 3), (27, 29, 30)):
        p["created"] = dt.date(2024, 12, day)
        p["discontinued"] = None
        p["stock"] = rng.choice([50, 80, 100])
    for p in products:
        lines.append(insert(
            "products",
            ["product_id", "name", "category_id", "supplier_id", "price", "stock_quantity",
             "created_date", "discontinued_date"],
            (p["id"], p["name"], p["category_id"], p["supplier_id"], float(p["price"]),
             p["stock"], p["created"], p["discontinued"]),
        ))

    # customers
    customers = []
    used_emails: dict[str, int] = {}
    used_names: set[tuple[str, str]] = set()
    city_weights = [c[2] for c in CITIES]
    for cid in range(1, 151):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        while (first, last) in used_names:  # keep full names unique
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        used_names.add((first, last))
        city, country, _, prefix = rng.choices(CITIES, weights=city_weights)[0]
        base = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        n = used_emails.get(base, 0)
        used_emails[base] = n + 1
        domain = rng.choice(["example.com", "mail.example.org", "inbox.example.net"])
        email = f"{base}{n + 1 if n else ''}@{domain}"
        phone = None if rng.random() < 0.28 else f"{prefix} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        if rng.random() < 0.7:
            signup = rand_date(rng, dt.date(2021, 6, 1), dt.date(2022, 12, 31))
        else:
            signup = rand_date(rng, dt.date(2023, 1, 1), dt.date(2024, 10, 31))
        customers.append({"id": cid, "signup": signup, "activity": rng.choice([0, 0.6, 1, 1, 1.5, 2, 3, 5])})
        lines.append(insert(
            "customers",
            ["customer_id", "first_name", "last_name", "email", "phone", "city", "country", "signup_date"],
            (cid, first, last, email, phone, city, country, signup),
        ))

    # orders
    active = [c for c in customers if c["activity"] > 0]
    raw_orders = []
    for _ in range(600):
        odate = rand_date(rng, START, END)
        signed_up = [c for c in active if c["signup"] <= odate]
        c = rng.choices(signed_up, weights=[c["activity"] for c in signed_up])[0]
        raw_orders.append((odate, c["id"]))
    raw_orders.sort()

    orders = []
    for oid, (odate, cid) in enumerate(raw_orders, start=1):
        days_left = (END - odate).days
        if days_left <= 21:
            status = rng.choices(["pending", "shipped", "cancelled"], weights=[45, 45, 10])[0]
        elif days_left <= 60:
            status = rng.choices(["shipped", "delivered", "cancelled"], weights=[35, 55, 10])[0]
        else:
            status = rng.choices(["delivered", "cancelled", "returned"], weights=[78, 14, 8])[0]
        shipped = None
        if status in ("shipped", "delivered", "returned"):
            shipped = odate + dt.timedelta(days=rng.choice([1, 1, 2, 2, 3, 4, 6]))
            if shipped > END:
                shipped = END
        payment = rng.choices(PAYMENT_METHODS, weights=PAYMENT_WEIGHTS)[0]
        discount = rng.choice(DISCOUNT_CODES) if rng.random() < 0.2 else None
        if discount == "BLACKFRIDAY" and odate.month != 11:
            discount = "WELCOME10"
        orders.append({"id": oid, "customer_id": cid, "date": odate, "status": status, "shipped": shipped})
        lines.append(insert(
            "orders",
            ["order_id", "customer_id", "order_date", "status", "payment_method", "shipped_date", "discount_code"],
            (oid, cid, odate, status, payment, shipped, discount),
        ))

    # order items
    item_id = 0
    purchases = []  # (customer_id, product_id, shipped_date) for delivered orders
    for o in orders:
        available = [p for p in products
                     if p["created"] <= o["date"]
                     and (p["discontinued"] is None or p["discontinued"] > o["date"])]
        n_items = rng.choices([1, 2, 3, 4, 5], weights=[25, 30, 22, 13, 10])[0]
        chosen = []
        pool = list(available)
        for _ in range(n_items):
            p = rng.choices(pool, weights=[q["popularity"] for q in pool])[0]
            pool.remove(p)
            chosen.append(p)
        chosen.sort(key=lambda p: p["id"])
        for p in chosen:
            item_id += 1
            qty = rng.choices([1, 2, 3, 4, 6], weights=[60, 22, 10, 5, 3])[0]
            unit_price = p["price"]
            if o["date"].year == 2023:  # list prices were raised ~5% at the start of 2024
                unit_price = round(unit_price / 1.05, 2)
            lines.append(insert(
                "order_items",
                ["order_item_id", "order_id", "product_id", "quantity", "unit_price"],
                (item_id, o["id"], p["id"], qty, float(unit_price)),
            ))
            if o["status"] == "delivered":
                purchases.append((o["customer_id"], p["id"], o["shipped"]))

    # reviews: only for delivered purchases, at most one per customer and product
    by_id = {p["id"]: p for p in products}
    seen: set[tuple[int, int]] = set()
    reviews = []
    for cid, prod_id, shipped in purchases:
        if (cid, prod_id) in seen or rng.random() > 0.28:
            continue
        review_date = shipped + dt.timedelta(days=rng.randint(2, 30))
        if review_date > END:
            continue
        seen.add((cid, prod_id))
        q = by_id[prod_id]["quality"]
        rating = int(round(min(5.0, max(1.0, rng.gauss(q, 0.9)))))
        if rng.random() < 0.3:
            comment = None
        elif rating >= 4:
            comment = rng.choice(POSITIVE_COMMENTS)
        elif rating == 3:
            comment = rng.choice(NEUTRAL_COMMENTS)
        else:
            comment = rng.choice(NEGATIVE_COMMENTS)
        reviews.append((review_date, prod_id, cid, rating, comment))
    reviews.sort(key=lambda r: (r[0], r[1], r[2]))
    for rid, (review_date, prod_id, cid, rating, comment) in enumerate(reviews, start=1):
        lines.append(insert(
            "reviews",
            ["review_id", "product_id", "customer_id", "rating", "comment", "review_date"],
            (rid, prod_id, cid, rating, comment, review_date),
        ))

    lines.append("COMMIT;")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
