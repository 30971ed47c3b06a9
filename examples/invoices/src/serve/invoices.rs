//! The invoice routes: list, create, show, add an item.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{Json, Path};
use super::queries::{self, Invoice, InvoiceSummary, Item};
use crate::invoicing::{NewItem, push_invoice};

/// The most items one invoice may be created with: each is a statement of the push's
/// transaction, and a request should not hold one open for long.
pub const MAX_ITEMS: usize = 100;

/// The largest quantity of one item: keeps `quantity * unit_price_cents`, and the sums of
/// them, far from the `bigint` limit for any sensible price.
pub const MAX_QUANTITY: i32 = 1_000_000;

/// The body of `POST /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NewInvoice {
    /// The customer.
    pub user_id: i64,
    /// Its lines: at least one.
    pub items: Vec<NewItem>,
}

/// `GET /invoices`.
pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Vec<InvoiceSummary>>, ApiError> {
    Ok(axum::Json(queries::invoices(&state.pool).await?))
}

/// `POST /invoices`: through the invoicing changeset, so the invoice, its items, its total
/// and its `invoice_created` event commit together.
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewInvoice>,
) -> Result<impl IntoResponse, ApiError> {
    validate_items(&body.items)?;
    // Checked first because the changeset would not say: an unknown product's item is
    // inserted by `INSERT ... SELECT FROM products`, which inserts nothing for it.
    if !queries::user_exists(&state.pool, body.user_id).await? {
        return Err(ApiError::unprocessable(format!("unknown user {}", body.user_id)));
    }
    let product_ids: Vec<i64> = body.items.iter().map(|item| item.product_id).collect();
    check_products(&queries::missing_products(&state.pool, &product_ids).await?)?;
    let (_, number) = push_invoice(&state.pool, &state.catalog, body.user_id, &body.items).await?;
    let invoice = read_invoice(&state, &number).await?;
    Ok((StatusCode::CREATED, [(header::LOCATION, format!("/invoices/{number}"))], axum::Json(invoice)))
}

/// `GET /invoices/{number}`.
pub async fn show(State(state): State<AppState>, Path(number): Path<String>) -> Result<axum::Json<Invoice>, ApiError> {
    Ok(axum::Json(read_invoice(&state, &number).await?))
}

/// `POST /invoices/{number}/items`: a plain `INSERT`, as any other client of the database
/// could write; the listener, not this handler, brings the total up to date.
pub async fn add_item(
    State(state): State<AppState>,
    Path(number): Path<String>,
    Json(item): Json<NewItem>,
) -> Result<(StatusCode, axum::Json<Item>), ApiError> {
    let invoice_id = queries::invoice_id(&state.pool, &number).await?.ok_or_else(|| no_invoice(&number))?;
    validate_item("", &item)?;
    let item = queries::insert_item(&state.pool, invoice_id, &item)
        .await?
        .ok_or_else(|| ApiError::unprocessable(format!("unknown product {}", item.product_id)))?;
    Ok((StatusCode::CREATED, axum::Json(item)))
}

async fn read_invoice(state: &AppState, number: &str) -> Result<Invoice, ApiError> {
    queries::invoice(&state.pool, number).await?.ok_or_else(|| no_invoice(number))
}

fn no_invoice(number: &str) -> ApiError {
    ApiError::not_found(format!("no invoice {number}"))
}

/// The checks on a new invoice's lines that need no database.
fn validate_items(items: &[NewItem]) -> Result<(), ApiError> {
    if items.is_empty() {
        return Err(ApiError::unprocessable("an invoice needs at least one item"));
    }
    if items.len() > MAX_ITEMS {
        return Err(ApiError::unprocessable(format!("at most {MAX_ITEMS} items per invoice, got {}", items.len())));
    }
    for (index, item) in items.iter().enumerate() {
        validate_item(&format!("items[{index}]."), item)?;
    }
    Ok(())
}

/// The checks on one line; `field` prefixes the field's name in the message.
fn validate_item(field: &str, item: &NewItem) -> Result<(), ApiError> {
    if !(1..=MAX_QUANTITY).contains(&item.quantity) {
        return Err(ApiError::unprocessable(format!(
            "{field}quantity must be between 1 and {MAX_QUANTITY}, got {}",
            item.quantity
        )));
    }
    Ok(())
}

fn check_products(missing: &[i64]) -> Result<(), ApiError> {
    match missing {
        [] => Ok(()),
        [id] => Err(ApiError::unprocessable(format!("unknown product {id}"))),
        ids => {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            Err(ApiError::unprocessable(format!("unknown products {}", ids.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: i32) -> NewItem {
        NewItem { product_id: 1, quantity }
    }

    #[test]
    fn invoices_need_items_with_a_positive_bounded_quantity() {
        let empty = validate_items(&[]).expect_err("no items");
        assert!(empty.message().contains("at least one item"), "{empty:?}");
        let zero = validate_items(&[item(2), item(0)]).expect_err("quantity 0");
        assert_eq!(zero.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(zero.message().starts_with("items[1].quantity"), "{zero:?}");
        assert!(validate_items(&[item(-3)]).is_err());
        assert!(validate_items(&[item(MAX_QUANTITY + 1)]).is_err());
        assert!(validate_items(&vec![item(1); MAX_ITEMS + 1]).is_err());
        assert!(validate_items(&[item(1), item(MAX_QUANTITY)]).is_ok());
    }

    #[test]
    fn missing_products_are_named() {
        assert!(check_products(&[]).is_ok());
        assert_eq!(check_products(&[7]).expect_err("one").message(), "unknown product 7");
        assert_eq!(check_products(&[7, 9]).expect_err("two").message(), "unknown products 7, 9");
    }
}
