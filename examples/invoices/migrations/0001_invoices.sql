-- Users, products, invoices and their items, as in the seed application.
-- Money is integer cents: sums stay exact.
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE
);

CREATE TABLE products (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0)
);

CREATE TABLE invoices (
    id bigserial PRIMARY KEY,
    number text NOT NULL UNIQUE,
    user_id bigint NOT NULL REFERENCES users (id),
    -- Derived: the sum of quantity * unit_price_cents over the invoice's items.
    total_price_cents bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoice_items (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    product_id bigint NOT NULL REFERENCES products (id),
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0)
);

CREATE INDEX invoice_items_invoice_id ON invoice_items (invoice_id);
