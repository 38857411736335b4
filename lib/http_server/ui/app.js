"use strict";
document.getElementById("app").textContent = "jobsd";
