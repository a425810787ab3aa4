// Copy buttons for tracking numbers: hidden without JavaScript or clipboard access.
(function () {
  if (!navigator.clipboard) { return; }
  document.querySelectorAll('.ot-copy').forEach(function (button) {
    var target = document.getElementById(button.getAttribute('data-copy-target'));
    if (!target) { return; }
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(target.textContent.trim()).then(function () {
        var label = button.textContent;
        button.textContent = button.getAttribute('data-copied');
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
})();
