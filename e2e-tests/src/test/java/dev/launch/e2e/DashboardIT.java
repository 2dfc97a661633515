package dev.launch.e2e;

import dev.launch.devstack.DebianTools;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.logging.LogEntry;
import org.openqa.selenium.logging.LogType;
import org.openqa.selenium.logging.LoggingPreferences;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.logging.Level;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.is;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dashboard the status service serves at {@code /}, in real headless Chromium (Debian's {@code chromium} and
 * {@code chromium-driver}, driven by Selenium without any driver download) against the shared stack: the queues page
 * shows a queue and its agent; a run enqueued through the API appears in the runs page and changes state there
 * without a reload; its page shows its output as it is written; its stop button stops it; a queued run is
 * reprioritized from its page; and no page logs a console error. Screenshots go to {@code target/dashboard/}.
 */
class DashboardIT {
    private static final Path SHOTS = Path.of("target", "dashboard");
    private static final String SCRIPT = """
            case "$LAUNCH_INPUTS" in
              *'"mode":"sleep"'*) for i in 1 2 3; do echo "step $i"; done; echo "waiting to be stopped"; sleep 120 ;;
              *) echo "quick and done" ;;
            esac
            """;

    private static LaunchStack stack;
    private static ServiceProcess agent;
    private static WebDriver browser;
    private static String queue;
    private static String job;

    @BeforeAll
    static void start() throws Exception {
        Path chromium = DebianTools.require("chromium", "chromium chromium-driver");
        Path chromedriver = DebianTools.require("chromedriver", "chromium-driver");
        stack = LaunchStack.shared();
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        Path code = Files.createTempDirectory("e2e-dashboard");
        Files.writeString(code.resolve("run.sh"), SCRIPT);
        job = "dash-" + suffix;
        queue = "dash-" + suffix;
        given().baseUri(stack.jobs.url()).contentType(ContentType.JSON).body("""
                {"name":"%s","source":{"type":"code","artifact":"%s"},"entrypoint":["sh","run.sh"]}"""
                .formatted(job, code)).when().post("/api/v1/jobs").then().statusCode(201);
        given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"name\":\"" + queue + "\",\"target\":{\"type\":\"local-process\"},\"prioritization\":true}")
                .when().post("/api/v1/queues").then().statusCode(201);
        agent = stack.agent("dash-agent-" + suffix, 1, queue);

        Files.createDirectories(SHOTS);
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.toFile());
        // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900");
        LoggingPreferences logs = new LoggingPreferences();
        logs.enable(LogType.BROWSER, Level.ALL);
        options.setCapability(ChromeOptions.LOGGING_PREFS, logs);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(chromedriver.toFile()).usingAnyFreePort().build();
        browser = new ChromeDriver(service, options);
    }

    @AfterAll
    static void stop() {
        if (browser != null) {
            browser.quit();
        }
        if (agent != null) {
            agent.close();
        }
    }

    /** Waits for what the page should come to show; on a timeout, a screenshot and what the page showed instead. */
    private static void until(String what, java.util.function.Function<WebDriver, Boolean> condition) {
        try {
            new WebDriverWait(browser, Duration.ofSeconds(60), Duration.ofMillis(100))
                    .ignoring(org.openqa.selenium.StaleElementReferenceException.class) // a view re-rendered
                    .until(condition::apply);
        } catch (org.openqa.selenium.TimeoutException e) {
            String name = "failed-" + what.replaceAll("[^a-z0-9]+", "-");
            try {
                screenshot(name);
            } catch (Exception ignored) {
                // the failure below says what matters
            }
            throw new AssertionError("the page did not come to show " + what + " within 60 s (" + name
                    + ".png); it showed:\n" + browser.findElement(By.tagName("body")).getText(), e);
        }
    }

    private static void open(String route) {
        browser.get(stack.status.url() + "/#/" + route);
    }

    private static String enqueue(String mode, String priority) {
        return given().baseUri(stack.queues.url()).contentType(ContentType.JSON)
                .body("{\"job\":\"" + job + "\",\"inputs\":{\"mode\":\"" + mode + "\"},\"priority\":\"" + priority + "\"}")
                .when().post("/api/v1/queues/" + queue + "/runs").then().statusCode(202).extract().path("runId");
    }

    /** The state a row or a page shows for a run, or "" while it shows none. */
    private static String stateIn(By where) {
        List<WebElement> found = browser.findElements(where);
        return found.isEmpty() ? "" : found.get(0).getText();
    }

    private static void screenshot(String name) throws Exception {
        Files.write(SHOTS.resolve(name + ".png"), ((TakesScreenshot) browser).getScreenshotAs(OutputType.BYTES));
    }

    private static void noConsoleErrors(String page) {
        List<LogEntry> severe = browser.manage().logs().get(LogType.BROWSER).getAll().stream()
                .filter(entry -> entry.getLevel().intValue() >= Level.SEVERE.intValue()).toList();
        assertTrue(severe.isEmpty(), "console errors on " + page + ": " + severe);
    }

    @Test
    void aRunIsFollowedLiveFromTheListToItsOutputAndStoppedFromItsPage() throws Exception {
        open("");
        By row = By.cssSelector("tr[data-queue='" + queue + "']");
        until("the queue with its agent", d -> !d.findElements(row).isEmpty()
                && d.findElement(row).getText().contains(agent.name()));
        assertTrue(browser.findElement(row).getText().contains("local-process"), browser.findElement(row).getText());
        until("a live stream", d -> d.findElement(By.id("live")).getText().equals("live"));
        screenshot("queues");
        noConsoleErrors("the queues page");

        open("runs?queue=" + queue);
        until("a live stream on the runs page", d -> d.findElement(By.id("live")).getText().equals("live"));
        // a mark in the page: were the page loaded again, it would be gone
        ((JavascriptExecutor) browser).executeScript("window.launchNotReloaded = true;");
        String running = enqueue("sleep", "medium");
        By runningState = By.cssSelector("tr[data-run='" + running + "'] td.state .badge");
        until("the first run RUNNING", d -> stateIn(runningState).equals("RUNNING"));
        String queued = enqueue("quick", "low"); // waits: the agent's one slot is taken
        By queuedState = By.cssSelector("tr[data-run='" + queued + "'] td.state .badge");
        until("the second run QUEUED", d -> stateIn(queuedState).equals("QUEUED"));
        assertEquals(Boolean.TRUE, ((JavascriptExecutor) browser).executeScript("return window.launchNotReloaded;"),
                "the list changed without a reload");
        noConsoleErrors("the runs page");

        // the queued run moves up a level from its page
        browser.findElement(By.cssSelector("tr[data-run='" + queued + "'] a")).click();
        until("the reprioritize button", d -> stateIn(By.cssSelector("#state .badge")).equals("QUEUED")
                && d.findElement(By.id("reprioritize")).isDisplayed());
        new Select(browser.findElement(By.id("priority"))).selectByValue("high");
        browser.findElement(By.id("reprioritize")).click();
        until("the new priority", d -> d.findElement(By.cssSelector("dd[data-fact='priority']")).getText().equals("high"));
        given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + queued).then().body("priority", is("high"));

        // the running run's page: its output as written, then the stop button
        open("runs/" + running);
        until("the run's output", d -> d.findElement(By.id("log")).getText().contains("waiting to be stopped"));
        assertTrue(browser.findElement(By.id("log")).getText().startsWith("step 1\nstep 2\nstep 3"),
                browser.findElement(By.id("log")).getText());
        assertEquals("RUNNING", stateIn(By.cssSelector("#state .badge")));
        screenshot("run");
        browser.findElement(By.id("stop")).click();
        until("the run STOPPED", d -> stateIn(By.cssSelector("#state .badge")).equals("STOPPED"));
        until("the output complete", d -> "true".equals(d.findElement(By.id("log-state")).getAttribute("data-complete")));
        until("the stop button disabled (nothing left to stop)",
                d -> d.findElement(By.id("stop")).getAttribute("disabled") != null);
        given().baseUri(stack.status.url()).when().get("/api/v1/runs/" + running).then().body("state", is("STOPPED"));
        noConsoleErrors("the run's page");

        // the freed slot takes the reprioritized run, which the agents page shows among the agent's work
        open("agents");
        until("the agent", d -> !d.findElements(By.cssSelector("tr[data-agent='" + agent.name() + "']")).isEmpty());
        noConsoleErrors("the agents page");

        // readable on a phone
        browser.manage().window().setSize(new Dimension(390, 844));
        open("");
        until("the queue on a phone", d -> !d.findElements(row).isEmpty());
        screenshot("queues-phone");
        noConsoleErrors("the queues page on a phone");
    }
}
