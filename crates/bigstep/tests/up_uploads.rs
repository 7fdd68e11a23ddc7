//! `/uploads/` under `bigstep up`: the front door sends `GET /uploads/KEY` to
//! the shared files server, which answers from the bucket without the keys
//! (objects only); the admin API counts the route; `--uploads-route off` (and
//! the default for an app of your own) keeps the bucket closed and leaves
//! `/uploads/` to the app.

mod upkit;

use std::net::SocketAddr;

use upkit::{get, request, wait_for, Resp, Up};

/// Upload `content` as `name` through the front door; the reply and the
/// `/uploads/KEY` link it names.
fn upload(up: &Up, name: &str, ctype: &str, content: &str) -> (Resp, String) {
    let boundary = "----bigstep-uploads-3c9a";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: {ctype}\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = request(
        up.addr,
        "POST",
        "/upload",
        &[("Content-Type", &ct)],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 303, "{r:?}\n{}", up.output());
    let link = r
        .body
        .split_whitespace()
        .find(|w| w.starts_with("/uploads/"))
        .unwrap_or_else(|| panic!("no /uploads/ link in {:?}", r.body))
        .to_string();
    (r, link)
}

/// Requests the admin API has counted for the route `name`.
fn route_requests(admin: SocketAddr, name: &str) -> u64 {
    let r = get(admin, "/api/routes").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let routes: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    routes
        .as_array()
        .unwrap()
        .iter()
        .find(|route| route["name"] == name)
        .unwrap_or_else(|| panic!("no route {name}: {routes}"))["requests"]
        .as_u64()
        .unwrap()
}

/// The files server's address, from the banner.
fn files_addr(up: &Up) -> SocketAddr {
    up.output()
        .lines()
        .find_map(|l| l.strip_prefix("bigstep up: shared files on http://"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("shared files line in the banner")
}

#[test]
fn uploads_are_served_by_the_files_server_at_the_front_door() {
    let up = Up::start(&["-n", "2"]);
    let (reply, link) = upload(&up, "notes.txt", "text/plain", "analytical engine");
    let uploaded_on = reply.header("x-served-by").unwrap();
    assert!(uploaded_on.starts_with("app-"), "{reply:?}");
    assert!(
        up.output().contains("/uploads/KEY serves the bucket"),
        "{}",
        up.output()
    );

    let before = route_requests(up.admin, "uploads");
    let r = get(up.addr, &link).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "analytical engine");
    // Answered by the files server itself, not by an instance of the app.
    assert_eq!(r.header("x-served-by").as_deref(), Some("files"), "{r:?}");
    assert_eq!(
        r.header("x-amz-meta-uploaded-by").as_deref(),
        Some(uploaded_on.as_str()),
        "{r:?}"
    );
    // An uploaded page must not run script in the site's origin.
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some("sandbox")
    );
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    // The admin API counted exactly this request on the route.
    wait_for(
        std::time::Duration::from_secs(10),
        "the route's counter",
        || route_requests(up.admin, "uploads") > before,
    );
    assert_eq!(route_requests(up.admin, "uploads"), before + 1);

    // The page links there.
    let page = get(up.addr, "/").unwrap();
    assert!(
        page.body.contains(&format!("href=\"{link}\"")),
        "{}",
        page.body
    );

    // Objects only: no listing of the bucket, and a missing key is a 404.
    let list = get(up.addr, "/uploads/").unwrap();
    assert_eq!(list.status, 403, "{list:?}");
    let missing = get(up.addr, "/uploads/no-such-key").unwrap();
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(missing.header("x-served-by").as_deref(), Some("files"));
    // Writes are not routed to the files server: they reach the app (which has
    // no such page), and the object is unchanged.
    let put = request(up.addr, "PUT", &link, &[], b"overwritten").unwrap();
    assert!(
        put.header("x-served-by").unwrap().starts_with("app-"),
        "{put:?}"
    );
    assert_eq!(get(up.addr, &link).unwrap().body, "analytical engine");
}

#[test]
fn private_uploads_keep_the_bucket_closed() {
    let up = Up::start(&["-n", "2", "--uploads-route", "off"]);
    let (_, link) = upload(&up, "secret.txt", "text/plain", "for signed eyes");
    // The app serves the link itself, with its keys.
    let r = get(up.addr, &link).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "for signed eyes");
    assert!(
        r.header("x-served-by").unwrap().starts_with("app-"),
        "{r:?}"
    );
    // Without a signature the files server refuses it.
    let direct = get(files_addr(&up), &link).unwrap();
    assert_eq!(direct.status, 403, "{direct:?}");
    let routes = get(up.admin, "/api/routes").unwrap();
    assert!(!routes.body.contains("\"uploads\""), "{}", routes.body);
}
