// Predict page: presets fill the form; the form is checked field by field
// before it is sent, and the API's field errors are shown on their fields.
"use strict";

(function () {
  const form = document.getElementById("predict-form");
  if (!form) return;
  const inputs = Array.from(form.querySelectorAll("input[name]"));
  const message = document.getElementById("predict-message");
  const result = document.getElementById("predict-result");
  const submit = document.getElementById("predict-submit");

  function fieldError(name, text) {
    const field = document.getElementById("field-" + name);
    const error = document.getElementById("error-" + name);
    if (field) field.classList.toggle("invalid", !!text);
    if (error) error.textContent = text || "";
  }

  function showMessage(text, kind) {
    message.textContent = text;
    message.className = "message " + (kind || "error") + (text ? "" : " hidden");
  }

  function clearErrors() {
    inputs.forEach(function (i) { fieldError(i.name, ""); });
    showMessage("");
  }

  // Client-side check: the same rules as the API (required, a finite
  // number, inside the channel's physical range).
  function check(input) {
    const raw = input.value.trim();
    const min = Number(input.dataset.min), max = Number(input.dataset.max);
    if (raw === "") return "Required: a number from " + min + " to " + max + ".";
    const x = Number(raw);
    if (!Number.isFinite(x)) return "\u201c" + raw + "\u201d is not a number.";
    if (x < min || x > max) return x + " is outside the physical range " + min + " to " + max + ".";
    return "";
  }

  // Errors clear as the user types and are checked again on submit. No
  // check on blur: an error appearing or vanishing then would move the
  // Predict button between mouse down and up, and swallow the click.
  inputs.forEach(function (input) {
    input.addEventListener("input", function () { fieldError(input.name, ""); });
  });

  document.querySelectorAll("button.preset").forEach(function (button) {
    button.addEventListener("click", function () {
      const values = JSON.parse(button.dataset.values);
      inputs.forEach(function (i) { if (i.name in values) i.value = values[i.name]; });
      clearErrors();
    });
  });

  form.addEventListener("reset", function () {
    clearErrors();
    result.classList.add("hidden");
  });

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    clearErrors();
    result.classList.add("hidden");
    let firstBad = null;
    const body = {};
    inputs.forEach(function (input) {
      const problem = check(input);
      if (problem) {
        fieldError(input.name, problem);
        firstBad = firstBad || input;
      } else {
        body[input.name] = Number(input.value.trim());
      }
    });
    if (firstBad) {
      showMessage("Please correct the highlighted fields.");
      firstBad.focus();
      return;
    }
    submit.disabled = true;
    try {
      const response = await fetch("/api/predict", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(function () { return {}; });
      if (!response.ok) {
        (answer.errors || (answer.field ? [{ field: answer.field, error: answer.error }] : [])).forEach(function (fe) {
          fieldError(fe.field, fe.error);
        });
        const kind = response.status === 503 ? "warn" : "error";
        showMessage(answer.error || ("The server answered " + response.status + "."), kind);
        return;
      }
      document.getElementById("result-class").textContent = answer.fire ? "FIRE" : "No fire";
      document.getElementById("result-class").className = "verdict " + answer["class"];
      document.getElementById("result-probability").textContent = (answer.probability * 100).toFixed(1) + " %";
      document.getElementById("result-bar").style.width = (answer.probability * 100).toFixed(1) + "%";
      document.getElementById("result-model").textContent = answer.model_version;
      result.classList.remove("hidden");
    } catch (err) {
      showMessage("The request failed: " + err.message);
    } finally {
      submit.disabled = false;
    }
  });
})();
