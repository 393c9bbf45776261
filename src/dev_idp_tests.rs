use super::*;

fn without_issuer() -> Figment {
    Figment::new()
        .merge(("oidc.base_url", "http://localhost:3000"))
        .select("debug")
}

#[test]
fn no_issuer_in_a_debug_build_means_the_dev_idp_on_port_4000() {
    let (figment, idp) = configure(without_issuer(), true).unwrap();
    assert_eq!(idp.map(|i| i.port()), Some(DEFAULT_PORT));
    let (_, settings) = crate::config::load(figment).unwrap();
    assert_eq!(settings.issuer, "http://127.0.0.1:4000");
    assert_eq!(settings.client_id, DEFAULT_CLIENT_ID);
    assert_eq!(
        settings
            .client_secret
            .as_ref()
            .map(ExposeSecret::expose_secret),
        Some(DEFAULT_CLIENT_SECRET)
    );
}

#[test]
fn the_dev_idps_demo_api_is_behind_the_gateway_unless_demo_is_configured() {
    let (figment, _) = configure(without_issuer(), true).unwrap();
    let (_, settings) = crate::config::load(figment).unwrap();
    let demo = settings.remote_apis.iter().find(|api| api.name == "demo");
    assert_eq!(
        demo.map(|api| (api.url.as_str(), api.token)),
        Some((
            "http://127.0.0.1:4000/demo-api/",
            crate::config::TokenPolicy::UserOrNone
        ))
    );
    let mine = without_issuer().merge((
        "oidc.remote_apis.demo",
        serde_json::json!({"url": "https://demo.example/v1", "token": "none"}),
    ));
    let (figment, _) = configure(mine, true).unwrap();
    let (_, settings) = crate::config::load(figment).unwrap();
    let demo = settings.remote_apis.iter().find(|api| api.name == "demo");
    assert_eq!(
        demo.map(|api| api.url.as_str()),
        Some("https://demo.example/v1/")
    );
}

#[test]
fn a_code_response_type_works_with_the_dev_client_secret_or_a_configured_one() {
    let code = without_issuer().merge(("oidc.response_type", "code"));
    let (figment, _) = configure(code.clone(), true).unwrap();
    let (_, settings) = crate::config::load(figment).unwrap();
    assert_eq!(
        settings
            .client_secret
            .as_ref()
            .map(ExposeSecret::expose_secret),
        Some(DEFAULT_CLIENT_SECRET)
    );
    for (configured, expected) in [("mine", "mine"), ("", DEFAULT_CLIENT_SECRET)] {
        let figment = code.clone().merge(("oidc.client_secret", configured));
        let (figment, _) = configure(figment, true).unwrap();
        let (_, settings) = crate::config::load(figment).unwrap();
        assert_eq!(
            settings
                .client_secret
                .as_ref()
                .map(ExposeSecret::expose_secret),
            Some(expected)
        );
    }
    // A configured issuer gets no development secret.
    let real = code.merge(("oidc.issuer", "https://idp.example"));
    let (figment, _) = configure(real, true).unwrap();
    assert!(figment
        .extract_inner::<String>("oidc.client_secret")
        .is_err());
}

#[test]
fn the_access_token_lifetime_comes_from_the_environment_or_the_setting() {
    let ttl =
        |figment: Figment, env: Option<&str>| access_token_ttl(&figment, env.map(str::to_string));
    assert_eq!(ttl(without_issuer(), None), Ok(DEFAULT_ACCESS_TOKEN_TTL));
    let set = without_issuer().merge((ACCESS_TOKEN_TTL_SETTING, 30));
    assert_eq!(ttl(set.clone(), None), Ok(Duration::from_secs(30)));
    assert_eq!(ttl(set.clone(), Some("90")), Ok(Duration::from_secs(90)));
    assert_eq!(ttl(set, Some(" ")), Ok(Duration::from_secs(30)));
    for bad in ["0", "-5", "five", "86401"] {
        assert!(ttl(without_issuer(), Some(bad)).is_err(), "{bad}");
    }
    let bad = without_issuer().merge((ACCESS_TOKEN_TTL_SETTING, "soon"));
    assert!(matches!(
        ttl(bad, None),
        Err(ConfigError::Invalid {
            name: "DEV_IDP_ACCESS_TOKEN_TTL (oidc.dev_idp_access_token_ttl)",
            ..
        })
    ));
}

#[test]
fn a_release_build_without_issuer_refuses_to_start_with_the_usual_message() {
    let (figment, idp) = configure(without_issuer().select("release"), false).unwrap();
    assert_eq!(idp, None);
    let error = crate::config::load(figment).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("ISSUER_BASE_URL (oidc.issuer) is not set: "),
        "{error}"
    );
}

#[test]
fn a_configured_issuer_is_never_replaced() {
    let figment = without_issuer().merge(("oidc.issuer", "https://idp.example"));
    let (figment, idp) = configure(figment, true).unwrap();
    assert_eq!(idp, None);
    assert_eq!(
        figment.extract_inner::<String>("oidc.issuer").unwrap(),
        "https://idp.example"
    );
}

#[test]
fn the_port_and_client_id_can_be_chosen() {
    let figment = without_issuer()
        .merge((PORT_SETTING, 4100))
        .merge(("oidc.client_id", "mine"));
    let (figment, idp) = configure(figment, true).unwrap();
    assert_eq!(
        idp.map(|i| i.issuer()).as_deref(),
        Some("http://127.0.0.1:4100")
    );
    assert_eq!(
        figment.extract_inner::<String>("oidc.client_id").unwrap(),
        "mine"
    );
    for bad in [Value::from(0), Value::from("four thousand")] {
        let figment = without_issuer().merge((PORT_SETTING, bad));
        assert!(matches!(
            configure(figment, true),
            Err(ConfigError::Invalid {
                name: "DEV_IDP_PORT (oidc.dev_idp_port)",
                ..
            })
        ));
    }
}

#[test]
fn a_second_port_adds_a_second_development_issuer_as_provider_dev_b() {
    let figment = without_issuer().merge((SECOND_PORT_SETTING, 4001));
    let (figment, idp) = configure(figment, true).unwrap();
    assert_eq!(idp.map(|i| i.second_port), Some(Some(4001)));
    let (_, settings) = crate::config::load(figment).unwrap();
    let names: Vec<&str> = settings.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", SECOND_PROVIDER]);
    assert_eq!(settings.providers[1].issuer, "http://127.0.0.1:4001");
}

#[test]
fn a_providers_table_without_an_issuer_starts_no_development_idp() {
    let figment = without_issuer().merge((
        "oidc.providers.acme",
        serde_json::json!({"issuer": "https://login.acme.example", "client_id": "app"}),
    ));
    let (_, idp) = configure(figment, true).unwrap();
    assert_eq!(idp, None);
}
