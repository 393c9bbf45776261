//! The start page, rendered once rather than per request: it differs between requests only by
//! the user's name, so it is kept cut where the name goes and the escaped name is put in.
//! Tera costs more than the whole authenticated API call otherwise.

use std::sync::OnceLock;

use rocket::http::{ContentType, Status};
use rocket_dyn_templates::tera::escape_html;
use rocket_dyn_templates::{context, Metadata};

/// Stands for the name while the page is cut: letters only, so escaping leaves it alone.
const MARK: &str = "OidcBffUserNameGoesHereQx7";
/// A name to check the cut page with: it must come out as Tera itself renders it.
const PROBE: &str = "Probe <b>&\"'/ Name";

/// The start page's two versions, cut once per app (see the module's docs).
#[derive(Default)]
pub struct StartPage(OnceLock<Option<Cut>>);

struct Cut {
    logged_out: String,
    /// The logged-in page split at each place of the name.
    around_name: Vec<String>,
}

/// Renders the page for a name (`None`: logged out).
type Render<'a> = dyn Fn(Option<&str>) -> Option<String> + 'a;

impl Cut {
    /// Cuts the page; `None` (render per request) when the cut page would not be what Tera
    /// renders, e.g. a template that changes the name with a filter.
    fn new(render: &Render<'_>) -> Option<Self> {
        let cut = Self {
            logged_out: render(None)?,
            around_name: render(Some(MARK))?
                .split(MARK)
                .map(str::to_string)
                .collect(),
        };
        let faithful = cut.logged_in(PROBE) == render(Some(PROBE))?;
        if !faithful {
            tracing::info!("the start page is rendered per request: its template changes the name");
        }
        faithful.then_some(cut)
    }

    /// The page for `user`; Tera's `{% if user %}` takes an empty name for none.
    fn page(&self, user: Option<&str>) -> String {
        match user {
            Some(name) if !name.is_empty() => self.logged_in(name),
            _ => self.logged_out.clone(),
        }
    }

    fn logged_in(&self, name: &str) -> String {
        self.around_name.join(escape_html(name).as_str())
    }
}

impl StartPage {
    /// The page for `user` (its name; `None` when logged out).
    pub fn render(
        &self,
        templates: &Metadata<'_>,
        user: Option<&str>,
        demo_api: bool,
    ) -> Result<(ContentType, String), Status> {
        let render = |user: Option<&str>| render(templates, user, demo_api);
        // While templates reload (development), each request sees the file as it is now.
        let cut = match templates.reloading() {
            true => None,
            false => self.0.get_or_init(|| Cut::new(&render)).as_ref(),
        };
        let html = match cut {
            Some(cut) => Some(cut.page(user)),
            None => render(user),
        };
        html.map(|html| (ContentType::HTML, html))
            .ok_or(Status::ServiceUnavailable)
    }
}

fn render(templates: &Metadata<'_>, user: Option<&str>, demo_api: bool) -> Option<String> {
    let page = templates.render("index", context! { user, demo_api });
    if page.is_none() {
        tracing::error!("the start page (template `index`) could not be rendered");
    }
    page.map(|(_, html)| html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket_dyn_templates::tera::{Context, Tera};

    /// Tera with the app's start page, escaping as the templates fairing does.
    fn tera(index: &str) -> Tera {
        let mut tera = Tera::default();
        tera.add_raw_templates([
            ("base", include_str!("../../templates/base.html.tera")),
            ("index.html", index),
        ])
        .unwrap();
        tera.autoescape_on(vec![".html"]);
        tera
    }

    fn renderer(tera: &Tera) -> impl Fn(Option<&str>) -> Option<String> + '_ {
        |user| {
            let mut context = Context::new();
            context.insert("user", &user);
            context.insert("demo_api", &true);
            tera.render("index.html", &context).ok()
        }
    }

    #[test]
    fn the_cut_page_is_what_tera_renders_for_every_name() {
        let tera = tera(include_str!("../../templates/index.html.tera"));
        let render = renderer(&tera);
        let cut = Cut::new(&render).expect("the start page can be cut");
        assert_eq!(cut.around_name.len(), 3, "the name is in two places");
        assert_eq!(cut.page(None), render(None).unwrap());
        for name in ["Alice", "<script>alert(1)</script> & 'Co\"", "", MARK] {
            assert_eq!(cut.page(Some(name)), render(Some(name)).unwrap(), "{name}");
        }
        assert!(cut.logged_in("<b>").contains("Logged in as &lt;b&gt;</h1>"));
    }

    #[test]
    fn a_template_that_changes_the_name_is_rendered_per_request() {
        let index = r#"{% extends "base" %}{% block content %}{{ user | upper }}{% endblock %}"#;
        let tera = tera(index);
        assert!(Cut::new(&renderer(&tera)).is_none());
    }
}
