//! `?page=&per_page=` on the list endpoints.

use serde::Deserialize;
use utoipa::IntoParams;

use super::error::ApiError;

/// Items per page unless `per_page` says otherwise.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// The most items one page may hold.
pub const MAX_PER_PAGE: u32 = 100;

/// The query parameters of a list.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// The page, from 1 (default 1).
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pub per_page: Option<u32>,
}

/// A checked page: what SQL's `LIMIT` and `OFFSET` take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Items to return.
    pub limit: i64,
    /// Items to skip.
    pub offset: i64,
}

impl Pagination {
    /// The window this page covers.
    ///
    /// # Errors
    /// 422 for a page below 1 or a `per_page` outside 1 to [`MAX_PER_PAGE`].
    pub fn window(self) -> Result<Window, ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(ApiError::unprocessable("page starts at 1"));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::unprocessable(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
        }
        // u32 * u32 fits an i64: no overflow whatever the client sends.
        Ok(Window { limit: i64::from(per_page), offset: (i64::from(page) - 1) * i64::from(per_page) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_checked_and_turned_into_windows() {
        assert_eq!(Pagination::default().window(), Ok(Window { limit: 20, offset: 0 }));
        let third = Pagination { page: Some(3), per_page: Some(10) };
        assert_eq!(third.window(), Ok(Window { limit: 10, offset: 20 }));
        assert!(Pagination { page: Some(0), per_page: None }.window().is_err());
        assert!(Pagination { page: None, per_page: Some(0) }.window().is_err());
        assert!(Pagination { page: None, per_page: Some(MAX_PER_PAGE + 1) }.window().is_err());
        assert!(Pagination { page: Some(u32::MAX), per_page: Some(MAX_PER_PAGE) }.window().is_ok());
    }
}
