// The JavaScript pixel (/track.js): the advertiser's thank-you page sets its variables, then
// loads this script, which sends them to the image pixel on the tracking domain it came from:
//   <script>var afoffer_id = 802; var afgoal = "purchase"; var afsum = 49.90;</script>
//   <script src="https://track.example.com/track.js"></script>
(function () {
  var script = document.currentScript;
  // The page's variable -> the image pixel's parameter.
  var names = {
    afoffer_id: "offer_id",
    afgoal: "goal",
    afsum: "sum",
    afprice: "sum",
    afstatus: "afstatus",
    afid: "action_id",
    afsecure: "secure",
    afcomment: "comment",
    afcurrency: "currency",
    afpromo_code: "promo_code",
  };
  var query = [];
  if (!script) {
    return;
  }
  for (var name in names) {
    if (typeof window[name] !== "undefined" && window[name] !== null) {
      query.push(names[name] + "=" + encodeURIComponent(String(window[name])));
    }
  }
  var image = new Image(1, 1);
  image.src = new URL("/success.jpg?" + query.join("&"), script.src).href;
})();
