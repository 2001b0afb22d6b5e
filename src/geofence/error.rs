//! Errors of the geofence module: one `FieldError` per broken rule, naming the field path
//! the client wrote (`geometry.coordinates[0][3]`), so the HTTP layer can put them
//! straight into the problem document's `errors[]`.
//!
//! The geometry checks (`shape` and `topology`) collect their errors in `Errors`, name
//! positions with `Paths` and write coordinates with `fmt_coord`; these live here, beneath
//! both checks, so that `topology` need not import the parser that calls it.

use geo::Coord;

use crate::field::FieldError;

/// The module's error enum, for callers that want one `?`-able type; the API layer maps
/// both variants to 422 `validation_failed` with `errors` as the problem's `errors[]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeofenceError {
    #[error("invalid geometry ({} error(s))", .0.len())]
    InvalidGeometry(Vec<FieldError>),
    #[error("invalid location ({} error(s))", .0.len())]
    InvalidLocation(Vec<FieldError>),
}

impl GeofenceError {
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            GeofenceError::InvalidGeometry(e) | GeofenceError::InvalidLocation(e) => e,
        }
    }
}

/// At most this many errors are listed; the rest are counted in a last entry.
const MAX_ERRORS: usize = 50;

pub(crate) struct Errors {
    list: Vec<FieldError>,
    dropped: usize,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Self {
            list: Vec::new(),
            dropped: 0,
        }
    }

    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(FieldError::new(field, message));
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn finish(mut self) -> Vec<FieldError> {
        if self.dropped > 0 {
            self.list.push(FieldError::new(
                "geometry",
                format!("{} more errors not listed", self.dropped),
            ));
        }
        self.list
    }
}

/// Field paths and labels of a Polygon (`coordinates[ring][i]`) or MultiPolygon
/// (`coordinates[part][ring][i]`).
pub(crate) struct Paths {
    pub(crate) multi: bool,
}

impl Paths {
    pub(crate) fn part(&self, p: usize) -> String {
        if self.multi {
            format!("geometry.coordinates[{p}]")
        } else {
            "geometry.coordinates".to_string()
        }
    }

    pub(crate) fn ring(&self, p: usize, r: usize) -> String {
        format!("{}[{r}]", self.part(p))
    }

    pub(crate) fn pos(&self, p: usize, r: usize, i: usize) -> String {
        format!("{}[{r}][{i}]", self.part(p))
    }

    /// The position's index as written, for messages: `[0][3]`.
    pub(crate) fn short(&self, p: usize, r: usize, i: usize) -> String {
        if self.multi {
            format!("[{p}][{r}][{i}]")
        } else {
            format!("[{r}][{i}]")
        }
    }

    pub(crate) fn ring_label(&self, p: usize, r: usize) -> String {
        let ring = if r == 0 {
            "the exterior ring".to_string()
        } else {
            format!("hole {r}")
        };
        if self.multi {
            format!("{ring} of polygon {p}")
        } else {
            ring
        }
    }
}

pub(crate) fn fmt_coord(c: Coord<f64>) -> String {
    format!("[{}, {}]", c.x, c.y)
}
