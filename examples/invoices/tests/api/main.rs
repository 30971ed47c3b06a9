//! The JSON API of `invoices serve`, over real HTTP, with the listener running in the same
//! process against real PostgreSQL.

#[path = "../support/http.rs"]
mod http;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use invoices::serve::AppState;
use pg_harness::TestDb;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long the listener and the outbox get before a test fails.
const DEADLINE: Duration = Duration::from_secs(30);

/// A server on an ephemeral port with its runtime, on a fresh database with the sample
/// catalog (users 1-3, products 1-4).
struct Api {
    addr: SocketAddr,
    pool: PgPool,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    _db: TestDb,
}

impl Api {
    async fn start() -> Api {
        let db = TestDb::create().await.expect("test database");
        let pool = PgPool::connect(db.url()).await.expect("connect");
        invoices::migrate(&pool).await.expect("migrate");
        invoices::seed::ensure_catalog(&pool).await.expect("catalog");
        let runtime = invoices::listener::runtime(&pool, invoices::listener::config()).start().await.expect("runtime");
        let socket = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(invoices::serve::serve(socket, AppState::new(pool.clone(), runtime), async {
            // Sender dropped (a failing test) stops the server as well.
            let _ = stopped.await;
        }));
        Api { addr, pool, stop, server, _db: db }
    }

    async fn get(&self, path: &str) -> http::Response {
        http::get(self.addr, path).await
    }

    async fn post(&self, path: &str, body: &Value) -> http::Response {
        http::post(self.addr, path, &body.to_string()).await
    }

    /// A product's id and price.
    async fn product(&self, name: &str) -> (i64, i64) {
        sqlx::query_as("SELECT id, unit_price_cents FROM products WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .expect("product")
    }

    async fn user(&self) -> i64 {
        sqlx::query_scalar("SELECT min(id) FROM users").fetch_one(&self.pool).await.expect("user")
    }

    /// Stops the server and its runtime gracefully, and closes the pool so the test
    /// database can be dropped.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(DEADLINE, self.server)
            .await
            .expect("the server stops")
            .expect("the server task")
            .expect("the server");
        self.pool.close().await;
    }
}

/// Polls `probe` every 50 ms until it returns a value, for at most [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "gave up after {DEADLINE:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_status(response: &http::Response, status: u16) {
    assert_eq!(response.status, status, "{}", response.body);
}

/// The `error` field of an error response, checking its status.
fn error_of(response: &http::Response, status: u16) -> String {
    assert_status(response, status);
    response.json()["error"].as_str().unwrap_or_else(|| panic!("no error field: {}", response.body)).to_owned()
}

#[tokio::test]
async fn creating_an_invoice_answers_201_with_a_true_total_and_delivers_its_event() {
    let api = Api::start().await;
    let (pen, pen_price) = api.product("Fountain pen").await;
    let (lamp, lamp_price) = api.product("Desk lamp").await;
    let user = api.user().await;

    let created = api
        .post(
            "/invoices",
            &json!({"user_id": user, "items": [{"product_id": pen, "quantity": 2}, {"product_id": lamp, "quantity": 1}]}),
        )
        .await;
    assert_status(&created, 201);
    let invoice = created.json();
    let number = invoice["number"].as_str().expect("number").to_owned();
    assert_eq!(created.header("location"), Some(format!("/invoices/{number}").as_str()));
    assert_eq!(invoice["total_price_cents"], json!(2 * pen_price + lamp_price));
    let items = invoice["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let sum: i64 = items
        .iter()
        .map(|item| item["quantity"].as_i64().expect("quantity") * item["unit_price_cents"].as_i64().expect("price"))
        .sum();
    assert_eq!(invoice["total_price_cents"], json!(sum), "the total is the sum of the items");
    assert_eq!(items[0]["product_id"], json!(pen));
    assert!(items[0]["id"].as_i64().is_some());

    let listed = api.get("/invoices").await;
    assert_status(&listed, 200);
    assert_eq!(
        listed.json(),
        json!([{"number": number, "customer": "Ada Lovelace", "item_count": 2,
                "total_price_cents": sum, "items_sum_cents": sum}])
    );

    // The `invoice_created` event went through the outbox to the notifications table.
    let invoice_id: i64 = sqlx::query_scalar("SELECT id FROM invoices WHERE number = $1")
        .bind(&number)
        .fetch_one(&api.pool)
        .await
        .expect("invoice id");
    eventually("the invoice_created notification", || async {
        let kind: Option<String> = sqlx::query_scalar("SELECT kind FROM notifications WHERE invoice_id = $1")
            .bind(invoice_id)
            .fetch_optional(&api.pool)
            .await
            .expect("read notifications");
        kind.filter(|kind| kind == "invoice_created")
    })
    .await;
    api.stop().await;
}

#[tokio::test]
async fn an_item_added_with_a_plain_insert_gets_its_total_corrected_by_the_listener() {
    let api = Api::start().await;
    let (notebook, notebook_price) = api.product("Notebook").await;
    let (ink, ink_price) = api.product("Ink cartridge (5)").await;
    let user = api.user().await;
    let created =
        api.post("/invoices", &json!({"user_id": user, "items": [{"product_id": notebook, "quantity": 1}]})).await;
    assert_status(&created, 201);
    let number = created.json()["number"].as_str().expect("number").to_owned();

    let added = api.post(&format!("/invoices/{number}/items"), &json!({"product_id": ink, "quantity": 3})).await;
    assert_status(&added, 201);
    let item = added.json();
    assert_eq!((item["product_id"].clone(), item["quantity"].clone()), (json!(ink), json!(3)));
    assert_eq!(item["unit_price_cents"], json!(ink_price), "the product's price is copied");

    let expected = notebook_price + 3 * ink_price;
    let invoice = eventually("the listener to correct the total", || async {
        let response = api.get(&format!("/invoices/{number}")).await;
        assert_status(&response, 200);
        let invoice = response.json();
        (invoice["total_price_cents"] == json!(expected)).then_some(invoice)
    })
    .await;
    assert_eq!(invoice["items_sum_cents"], json!(expected));
    assert_eq!(invoice["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(invoice["items"][1], item);
    api.stop().await;
}

#[tokio::test]
async fn unknown_invoices_and_routes_are_404() {
    let api = Api::start().await;
    assert_eq!(error_of(&api.get("/invoices/INV-9999").await, 404), "no invoice INV-9999");
    let added = api.post("/invoices/INV-9999/items", &json!({"product_id": 1, "quantity": 1})).await;
    assert_eq!(error_of(&added, 404), "no invoice INV-9999");
    assert!(error_of(&api.get("/nowhere").await, 404).contains("/nowhere"));
    let wrong_method = http::request(api.addr, "DELETE", "/invoices", None).await;
    assert!(error_of(&wrong_method, 405).contains("DELETE"));
    api.stop().await;
}

#[tokio::test]
async fn invoices_that_cannot_be_created_are_422_naming_the_problem() {
    let api = Api::start().await;
    let (pen, _) = api.product("Fountain pen").await;
    let user = api.user().await;
    let api_ref = &api;
    let create = |body: Value| async move { api_ref.post("/invoices", &body).await };

    let empty = create(json!({"user_id": user, "items": []})).await;
    assert!(error_of(&empty, 422).contains("at least one item"));
    let zero = create(json!({"user_id": user, "items": [{"product_id": pen, "quantity": 0}]})).await;
    assert!(error_of(&zero, 422).contains("items[0].quantity"));
    let unknown = create(json!({"user_id": user, "items": [{"product_id": 424242, "quantity": 1}]})).await;
    assert_eq!(error_of(&unknown, 422), "unknown product 424242");
    let nobody = create(json!({"user_id": 424242, "items": [{"product_id": pen, "quantity": 1}]})).await;
    assert_eq!(error_of(&nobody, 422), "unknown user 424242");
    let missing_field = create(json!({"items": [{"product_id": pen, "quantity": 1}]})).await;
    assert!(error_of(&missing_field, 422).contains("user_id"));

    let created = create(json!({"user_id": user, "items": [{"product_id": pen, "quantity": 1}]})).await;
    assert_status(&created, 201);
    let items = format!("/invoices/{}/items", created.json()["number"].as_str().expect("number"));
    let zero_item = api.post(&items, &json!({"product_id": pen, "quantity": 0})).await;
    assert!(error_of(&zero_item, 422).contains("quantity"));
    let unknown_item = api.post(&items, &json!({"product_id": 424242, "quantity": 1})).await;
    assert_eq!(error_of(&unknown_item, 422), "unknown product 424242");

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices").fetch_one(&api.pool).await.expect("count");
    assert_eq!(count, 1, "no rejected invoice was written");
    api.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400() {
    let api = Api::start().await;
    let truncated = http::post(api.addr, "/invoices", r#"{"user_id": 1, "items": ["#).await;
    assert!(!error_of(&truncated, 400).is_empty());
    let garbage = http::post(api.addr, "/invoices/INV-0001/items", "quantity=1").await;
    error_of(&garbage, 400);
    api.stop().await;
}

#[tokio::test]
async fn status_lists_the_totals_processor_and_the_outbox() {
    let api = Api::start().await;
    let response = api.get("/status").await;
    assert_status(&response, 200);
    let status = response.json();
    let subscribers = status["subscribers"].as_array().expect("subscribers");
    let names: Vec<&str> = subscribers.iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.contains(&"invoice_totals") && names.contains(&"outbox:invoicing"), "{status}");
    let totals = subscribers.iter().find(|s| s["name"] == "invoice_totals").expect("invoice_totals");
    assert_eq!(totals["table"], json!("public.invoice_items"));
    for field in ["pending", "in_flight", "retrying", "dead", "oldest_pending_age_ms", "per_second"] {
        assert!(totals.get(field).is_some(), "{field} missing: {totals}");
    }
    assert!(status["unrouted"].is_i64(), "{status}");
    assert_eq!(status["dead_letters"], json!([]));
    api.stop().await;
}
