// The console's countdown and copy buttons: a file, so the CSP allows no inline script.
(function () {
  var el = document.getElementById("countdown");
  var left = parseInt(document.getElementById("expires").dataset.seconds, 10);
  function tick() {
    if (left <= 0) { el.textContent = "expired: sign in again"; return; }
    var m = Math.floor(left / 60), s = left % 60;
    el.textContent = "in " + m + " min " + (s < 10 ? "0" : "") + s + " s";
    left -= 1; setTimeout(tick, 1000);
  }
  tick();
  document.querySelectorAll(".copy").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = button.nextElementSibling.textContent;
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done); return; }
      var range = document.createRange(); range.selectNodeContents(button.nextElementSibling);
      var selection = window.getSelection(); selection.removeAllRanges(); selection.addRange(range);
      try { document.execCommand("copy"); done(); } catch (e) { button.textContent = "Press Ctrl+C"; }
    });
  });
})();
