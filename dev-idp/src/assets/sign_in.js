// Development IdP: the demo accounts' "Use" buttons fill in the sign-in form.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var username = document.getElementById("username");
  var password = document.getElementById("password");
  document.querySelectorAll("button.use-account").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      username.value = button.dataset.username;
      password.value = button.dataset.password;
      document.getElementById("sign-in").focus();
    });
  });
});
