setInterval(() => console.log("worker tick"), 60000);
