//! The invoices as a table a person reads.

use crate::money::format_cents;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceLine {
    /// Invoice number.
    pub number: String,
    /// Customer name.
    pub customer: String,
    /// Number of items.
    pub items: i64,
    /// The total stored on the invoice (the derived value).
    pub total_price_cents: i64,
    /// The total computed from the items right now (the truth).
    pub items_sum_cents: i64,
}

impl InvoiceLine {
    /// Whether the stored total matches the items.
    pub fn is_consistent(&self) -> bool {
        self.total_price_cents == self.items_sum_cents
    }
}

/// Every invoice, oldest first, read through `executor` (a pool, or a transaction to see
/// its uncommitted edits).
pub async fn invoice_lines<'e, E: sqlx::PgExecutor<'e>>(executor: E) -> sqlx::Result<Vec<InvoiceLine>> {
    sqlx::query_as(
        "SELECT i.number, u.name AS customer, count(it.id) AS items, i.total_price_cents,
                coalesce(sum(it.quantity * it.unit_price_cents), 0)::bigint AS items_sum_cents
         FROM invoices i
         JOIN users u ON u.id = i.user_id
         LEFT JOIN invoice_items it ON it.invoice_id = i.id
         GROUP BY i.id, u.name
         ORDER BY i.id",
    )
    .fetch_all(executor)
    .await
}

/// Renders the lines as an aligned text table.
pub fn render(lines: &[InvoiceLine]) -> String {
    let mut out = format!("{:<10} {:<14} {:>5} {:>10} {:>12}\n", "invoice", "customer", "items", "total", "items sum");
    for line in lines {
        let flag = if line.is_consistent() { "" } else { "  <- out of date" };
        out.push_str(&format!(
            "{:<10} {:<14} {:>5} {:>10} {:>12}{flag}\n",
            line.number,
            line.customer,
            line.items,
            format_cents(line.total_price_cents),
            format_cents(line.items_sum_cents),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inconsistent_lines_are_flagged() {
        let mut line = InvoiceLine {
            number: "INV-0001".into(),
            customer: "Ada".into(),
            items: 2,
            total_price_cents: 1_000,
            items_sum_cents: 1_000,
        };
        assert!(!render(std::slice::from_ref(&line)).contains("out of date"));
        line.items_sum_cents = 1_250;
        let text = render(&[line]);
        assert!(text.contains("10.00") && text.contains("12.50") && text.contains("out of date"), "{text}");
    }
}
