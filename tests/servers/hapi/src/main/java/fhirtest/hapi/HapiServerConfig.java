package fhirtest.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

import javax.sql.DataSource;
import java.util.HashMap;
import java.util.Map;

/**
 * Spring configuration for a throw-away HAPI FHIR JPA R4 server backed by an in-memory H2 database.
 * Only the pieces HAPI's own JPA configuration expects from the host application are defined here.
 */
@Configuration
@EnableTransactionManagement
@Import({
	JpaR4Config.class, // R4 FhirContext, DAOs, resource providers, JpaConfig
	HapiJpaConfig.class, // paging provider, stale-search cleanup, (no-op) fulltext svc
	JpaBatch2Config.class, // batch2 persistence: needed by delete-expunge / $expunge jobs
	Batch2JobsConfig.class, // batch2 job definitions (delete expunge, reindex, ...)
	SubscriptionChannelConfig.class, // in-memory message broker used by batch2 (no subscriptions registered)
	ThreadPoolFactoryConfig.class
})
public class HapiServerConfig {

	public static final int DEFAULT_PAGE_SIZE = 20;
	public static final int MAX_PAGE_SIZE = 1000;
	public static final long BATCH2_MAINTENANCE_MILLIS = 1000;
	/** Resources per bulk export file: small, so that a test export spans several files. */
	public static final int BULK_EXPORT_FILE_CAPACITY = 500;

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource() {
		BasicDataSource ds = new BasicDataSource();
		ds.setDriverClassName("org.h2.Driver");
		// In-memory, private to this JVM, kept until the JVM exits. Nothing is written to disk.
		ds.setUrl("jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1");
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaxTotal(20);
		ds.setMaxIdle(20);
		return ds;
	}

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		// Client-assigned ids of any form (incl. numeric); server-assigned ids are then UUIDs
		// so that they can never collide with client-assigned ones.
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ANY);
		s.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		s.setAllowMultipleDelete(true);
		s.setDeleteExpungeEnabled(true);
		s.setExpungeEnabled(true);
		s.setReuseCachedSearchResultsForMillis(null); // never reuse cached search results
		s.setEnforceReferentialIntegrityOnDelete(false);
		s.setFetchSizeDefaultMaximum(MAX_PAGE_SIZE);
		// Bulk Data $export: every kick-off is a new job (tests export the same data several times
		// and cancel jobs), and files are small so that an export produces several of them.
		s.setEnableBulkExportJobReuse(false);
		s.setBulkExportFileMaximumCapacity(BULK_EXPORT_FILE_CAPACITY);
		// No fulltext / lucene / hibernate-search
		s.setHibernateSearchIndexFullText(false);
		s.setHibernateSearchIndexSearchParams(false);
		s.setAdvancedHSearchIndexing(false);
		return s;
	}

	/**
	 * Batch2 jobs (e.g. DELETE ...&_expunge=true) only advance one step per maintenance pass, which
	 * HAPI runs once a minute by default; run it every second so such jobs finish within seconds.
	 */
	@Bean
	public static BeanPostProcessor fastBatch2Maintenance() {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String beanName) {
				if (bean instanceof JobMaintenanceServiceImpl maintenance) {
					maintenance.setScheduledJobFrequencyMillis(BATCH2_MAINTENANCE_MILLIS);
				}
				return bean;
			}
		};
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings(); // partitioning disabled
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		Map<String, Object> p = new HashMap<>();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.archive.scanner", "org.hibernate.boot.archive.scan.internal.DisabledScanner");
		p.put(
				"hibernate.physical_naming_strategy",
				"org.hibernate.boot.model.naming.CamelCaseToUnderscoresNamingStrategy");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		p.put("hibernate.search.enabled", "false");
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setJpaPropertyMap(p);
		emf.setDataSource(dataSource);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory emf) {
		JpaTransactionManager tm = new JpaTransactionManager();
		tm.setEntityManagerFactory(emf);
		return tm;
	}

	@Bean
	public RestfulServer restfulServer(
			IFhirSystemDao<?, ?> systemDao,
			ResourceProviderFactory resourceProviderFactory,
			JpaSystemProvider<?, ?> systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataExportProvider bulkDataExportProvider) {
		RestfulServer server = new RestfulServer(systemDao.getContext());
		server.registerProviders(resourceProviderFactory.createProviders());
		server.registerProvider(systemProvider);
		// $export (system, Patient, Group) and $export-poll-status; the files are Binary resources.
		server.registerProvider(bulkDataExportProvider);

		JpaCapabilityStatementProvider cs = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		cs.setImplementationDescription("HAPI FHIR R4 test server (H2 in-memory)");
		server.setServerConformanceProvider(cs);

		pagingProvider.setDefaultPageSize(DEFAULT_PAGE_SIZE);
		pagingProvider.setMaximumPageSize(MAX_PAGE_SIZE);
		server.setPagingProvider(pagingProvider);
		server.setDefaultPageSize(DEFAULT_PAGE_SIZE);
		server.setMaximumPageSize(MAX_PAGE_SIZE);

		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		// ApacheProxyAddressStrategy subclass: honours X-Forwarded-Host / -Proto / -Prefix (prefix is
		// prepended to /fhir); plain http://127.0.0.1:PORT/fhir when no forwarding headers are present.
		server.setServerAddressStrategy(new ForwardedPrefixAddressStrategy());
		return server;
	}
}
