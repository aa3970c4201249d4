-- Online shop demo database (SQLite). Dates are TEXT in ISO format YYYY-MM-DD.

CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT
);

CREATE TABLE suppliers (
    supplier_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country TEXT NOT NULL,
    contact_email TEXT NOT NULL,
    phone TEXT
);

CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category_id INTEGER NOT NULL REFERENCES categories(category_id),
    supplier_id INTEGER NOT NULL REFERENCES suppliers(supplier_id),
    price REAL NOT NULL,              -- current list price in USD
    stock_quantity INTEGER NOT NULL,  -- units currently in the warehouse
    created_date TEXT NOT NULL,       -- date the product was added to the catalog
    discontinued_date TEXT            -- NULL while the product is still sold
);

CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    phone TEXT,
    city TEXT NOT NULL,
    country TEXT NOT NULL,
    signup_date TEXT NOT NULL
);

CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL,             -- 'pending', 'shipped', 'delivered', 'cancelled' or 'returned'
    payment_method TEXT NOT NULL,     -- 'credit_card', 'paypal' or 'bank_transfer'
    shipped_date TEXT,                -- NULL if the order has not been shipped (pending or cancelled)
    discount_code TEXT                -- NULL if no discount code was used
);

CREATE TABLE order_items (
    order_item_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL          -- price paid per unit at the time of the order
);

CREATE TABLE reviews (
    review_id INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    rating INTEGER NOT NULL,          -- 1 (worst) to 5 (best)
    comment TEXT,                     -- NULL if the customer left only a rating
    review_date TEXT NOT NULL
);
