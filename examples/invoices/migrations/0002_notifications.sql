-- What the `invoice_created` event's handler writes (the seed enqueued a Sidekiq job).
-- Unique per invoice and kind: delivery is at least once, the handler must be idempotent.
CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    invoice_id bigint NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    kind text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (invoice_id, kind)
);
