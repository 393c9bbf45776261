// Development IdP: submits the form_post response to the application as soon as the page is
// read. Without JavaScript the page shows a Continue button that does the same.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) {
    form.submit();
  }
});
