//! The BFF's own pages (the error page, the continue page of a `SameSite=Strict` login, and
//! the choice of identity provider when there are several),
//! compiled into the library so a host app needs no `template_dir` and no templates fairing of
//! ours: they are rendered with Tera directly, from the files in `templates/`.

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder};
use rocket::Request;
use rocket_dyn_templates::tera::{Context, Tera};

/// The templates, parsed once at start-up.
pub struct Views(Tera);

impl Views {
    /// Parses the embedded templates; they are part of the build, so a failure is a defect.
    pub fn new() -> Result<Self, rocket_dyn_templates::tera::Error> {
        let mut tera = Tera::default();
        // Named as the app's own templates name them (`{% extends "base" %}`); the pages
        // rendered end in `.html` so that Tera escapes every value.
        tera.add_raw_templates([
            ("base", include_str!("../../templates/base.html.tera")),
            (
                "error.html",
                include_str!("../../templates/error.html.tera"),
            ),
            (
                "continue.html",
                include_str!("../../templates/continue.html.tera"),
            ),
            (
                "choose.html",
                include_str!("../../templates/choose.html.tera"),
            ),
        ])?;
        tera.autoescape_on(vec![".html"]);
        Ok(Self(tera))
    }
}

/// A page of [`Views`]: `name` without `.html`, with its values.
pub struct View {
    name: &'static str,
    context: Context,
}

impl View {
    /// The page `name` with the values of `context`.
    pub fn new(name: &'static str, context: Context) -> Self {
        Self { name, context }
    }
}

impl<'r> Responder<'r, 'static> for View {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let Some(Views(tera)) = req.rocket().state::<Views>() else {
            tracing::error!("the BFF's views are not managed: is the BFF attached?");
            return Err(Status::ServiceUnavailable);
        };
        match tera.render(&format!("{}.html", self.name), &self.context) {
            Ok(html) => (ContentType::HTML, html).respond_to(req),
            Err(error) => {
                tracing::error!(%error, page = self.name, "page not rendered");
                Err(Status::ServiceUnavailable)
            }
        }
    }
}
